"""The generated findings and targets state only what the figures show: a sentence whose
condition fails is left out, and a missing or unmeasured baseline is never quoted."""

from __future__ import annotations

import math
from typing import Any

from bench.findings import findings
from bench.report import targets_section
from bench.targets import judge

Run = dict[str, Any]


def latency(p50: float = 10.0, p95: float = 20.0, p99: float = 30.0) -> dict[str, float]:
    return {"p50": p50, "p95": p95, "p99": p99, "max": p99 + 1, "mean": p50, "count": 50}


def run(
    mode: str,
    n: int = 50,
    *,
    tree: str = "new",
    profile: str = "fast",
    cap: float = 1000.0,
    **throughput: Any,
) -> Run:
    figures: dict[str, Any] = {
        "posted": n,
        "cpu_ms_per_job": 5.0,
        "latency_ms": latency(),
        "status_requests_per_job": 1.0,
        "peak_status_per_s": 25.0,
        **throughput,
    }
    return {
        "profile": profile,
        "mode": mode,
        "n": n,
        "tree": tree,
        "title": f"mode {mode}",
        "emulator": {"gen_time": [2.0, 4.0]},
        "settings": {"max_poll_rate": cap},
        "throughput": figures,
    }


def with_restart(record: Run, **figures: Any) -> Run:
    record["restart"] = {
        "in_flight": record["n"],
        "posted": record["n"],
        "rss_start_mib": 40.0,
        "rss_in_flight_peak_mib": 50.0,
        "reconcile_s": 0.1,
        "held_peak_status_per_s": 10.0,
        **figures,
    }
    return record


def text(*runs: Run) -> str:
    return "\n".join(findings({"runs": list(runs)}))


def test_a_quick_run_within_one_core_says_so_and_claims_no_queue() -> None:
    # N = 50 over a 2 s window at 5 ms: 25 completions/s, 0.125 CPU-s per second.
    page = text(run("a"))

    assert "within one core" in page
    assert "more than one core can give" not in page
    assert "(baseline" not in page  # no baseline ran: none is quoted


def test_a_burst_costing_more_than_a_core_is_named_a_queue() -> None:
    page = text(run("a", 1000, cpu_ms_per_job=5.0))  # 500/s x 5 ms = 2.5 CPU-s per second

    assert "more than one core can give" in page
    assert "within one core" not in page


def test_a_rate_is_said_within_or_over_the_cap_as_measured() -> None:
    assert "within the cap of 1,000/s" in text(run("e", peak_status_per_s=25.0))
    over = text(run("e", peak_status_per_s=1500.0))
    assert "over the cap of 1,000/s" in over and "within" not in over
    burst = text(run("e", peak_status_per_s=1050.0))
    assert "by no more than its 0.1 s burst" in burst


def test_the_cap_is_judged_on_what_the_bot_sent_when_it_counted() -> None:
    page = text(run("e", peak_status_per_s=1400.0, bot_peak_status_per_s=1090.0))

    assert "the bot sent at most 1,090 status requests in a second, over the cap of " in page
    assert "by no more than its 0.1 s burst, at most 1,400 arrived at the emulator" in page
    assert "arrived at the emulator in a second, over" not in page


def test_an_unmeasured_peak_and_an_unmeasured_baseline_are_left_out() -> None:
    polling = with_restart(run("b"), held_peak_status_per_s=math.nan)
    base = with_restart(run("e", tree="baseline", peak_status_per_s=math.nan))

    page = text(polling, run("e"), base)

    assert "polling only, the files held" not in page  # no 1 s window: no rate claimed
    assert "socket cut every 10 s (e), N = 50: at most 25.0 arrived at the emulator" in page
    assert "baseline –" not in page and "(baseline" not in page.split("**4.")[0]


def test_the_cap_is_named_the_limit_of_a_restart_only_when_the_time_matches_it() -> None:
    slow = with_restart(run("a", 10000, cap=1000.0), reconcile_s=10.5)  # floor 9.9 s
    fast = with_restart(run("a", 10000, cap=1000.0), reconcile_s=2.0)  # faster than a floor
    slower = with_restart(run("a", 10000, cap=1000.0), reconcile_s=30.0)  # the bot is slower

    assert "the cap, not the bot, sets this figure" in text(slow)
    assert "the cap, not the bot" not in text(fast)
    assert "the cap, not the bot" not in text(slower)


def test_polling_against_the_fixed_loop_reports_the_direction_measured() -> None:
    b = run("b", status_requests_per_job=6.0, latency_ms=latency(p50=100.0))
    d = run("d", status_requests_per_job=2.0, latency_ms=latency(p50=1000.0))

    page = text(b, d)

    assert "(lower)" in page and "(more)" in page
    assert "(fewer)" not in page and "(higher)" not in page


def test_a_ratio_target_is_judged_against_the_baseline_of_the_same_run() -> None:
    new = run("a", 1000, cpu_ms_per_job=4.0)
    base = run("a", 1000, tree="baseline", cpu_ms_per_job=10.0)

    [cpu] = [v for v in judge([new, base]) if v.target.key == "1-cpu"]
    assert cpu.bound is not None and math.isclose(cpu.bound, 10.0 * 2.5 / 5.1)
    assert cpu.met is True
    [alone] = [v for v in judge([new]) if v.target.key == "1-cpu"]
    assert alone.met is None  # no baseline beside it: not judged


def test_a_missed_target_is_reported_with_its_profile_or_says_it_has_none() -> None:
    new = run("a", 1000, cpu_ms_per_job=9.0)
    base = run("a", 1000, tree="baseline", cpu_ms_per_job=10.0)
    page = "\n".join(targets_section([base, new]))

    assert "| 9.00 ms | 0.90× | 4.90 ms (≤ 0.49 × baseline) | **missed** |" in page
    assert "**1-cpu missed: the profile.** No profile in this run" in page
    new["profile_cpu"] = {
        "throughput": {"samples": 100, "self": [["hot (bot/x.py)", 0.5]], "total": [["t", 1.0]]}
    }
    page = "\n".join(targets_section([base, new]))
    assert "| hot (bot/x.py) | 50.0 |" in page
