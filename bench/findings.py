"""The "Findings" section of the report. Every figure is read from the results, and every
sentence that states a condition is written only when the figures show it (a sentence
whose condition does not hold is left out, never printed false)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from bench.report import _num
from bench.targets import find
from bot.backend.pacing import DEFAULT_BURST

Run = dict[str, Any]


def _sizes(runs: Sequence[Run], profile: str, mode: str) -> list[int]:
    key = (profile, mode, "new")
    return sorted({r["n"] for r in runs if (r["profile"], r["mode"], r.get("tree", "new")) == key})


def _spread(run: Run) -> float:
    """Width of the generation-time window: a burst's completions arrive over this long."""
    low, high = run["emulator"]["gen_time"]
    return float(high) - float(low)


def _vs(new: float, base: Run | None, phase: str, key: str, digits: int = 2) -> str:
    """`` (baseline X, ratio Y×)`` when the baseline ran."""
    if base is None or phase not in base:
        return ""
    old = base[phase].get(key)
    if not _known(old):
        return ""
    ratio = f", {_num(new / old, 2)}×" if old and _known(new) else ""
    return f" (baseline {_num(old, digits)}{ratio})"


def _known(value: object) -> bool:
    """A measured figure (not missing, not NaN: e.g. a peak rate over a stage under 1 s)."""
    return isinstance(value, int | float) and math.isfinite(value)


def _hot(run: Run, phase: str, count: int = 5) -> str:
    profile = run.get("profile_cpu", {}).get(phase)
    if not profile or not profile.get("self"):
        return ""
    names = ", ".join(f"{name} {_num(share * 100)} %" for name, share in profile["self"][:count])
    return f" Its profile's hottest functions by own time (py-spy, all threads): {names}."


def _cpu(runs: Sequence[Run]) -> list[str]:
    sizes = _sizes(runs, "fast", "a")
    if not sizes:
        return []
    n = 1000 if 1000 in sizes else sizes[-1]
    a = find(runs, "fast", "a", n)
    assert a is not None
    if "throughput" not in a:
        return []
    t = a["throughput"]
    base = find(runs, "fast", "a", n, "baseline")
    cpu = t["cpu_ms_per_job"]
    spread = _spread(a)
    load = n / spread * cpu / 1000
    text = [
        f"**1. CPU per job.** In (a) at N = {n:,} the bot spent {_num(cpu, 2)} ms of CPU per "
        f"job{_vs(cpu, base, 'throughput', 'cpu_ms_per_job')}: at that cost one core could "
        f"complete about {_num(1000 / cpu)} jobs/s end to end.{_hot(a, 'throughput')}"
    ]
    verdict = (
        "more than one core can give, so completions queue inside the bot and the latency "
        "columns measure that queue"
        if load > 1
        else "within one core"
    )
    text.append(
        f"A burst of N jobs whose generations end within the same {spread:g} s window asks "
        f"for N / {spread:g} completions per second; at N = {n:,} that is "
        f"{_num(load, 2)} CPU-seconds per second, {verdict} (p50 "
        f"{_num(t['latency_ms']['p50'])} ms, p99 {_num(t['latency_ms']['p99'])} ms"
        f"{_vs(t['latency_ms']['p99'], _latency_run(base), 'throughput', 'p99', 1)})."
    )
    return [" ".join(text), ""]


def _latency_run(base: Run | None) -> Run | None:
    """``base`` with its latency percentiles where ``_vs`` looks (``throughput.<name>``)."""
    if base is None or "throughput" not in base:
        return None
    return {"throughput": base["throughput"]["latency_ms"]}


def _dropped(runs: Sequence[Run]) -> list[str]:
    out = []
    for profile in ("realistic", "fast"):
        for n in _sizes(runs, profile, "c"):
            c = find(runs, profile, "c", n)
            assert c is not None
            t = c["throughput"]
            lat = t["latency_ms"]
            base = find(runs, profile, "c", n, "baseline")
            line = (
                f"*{profile}*, N = {n:,}: p50 {_num(lat['p50'])} ms, p95 {_num(lat['p95'])} ms, "
                f"p99 {_num(lat['p99'])} ms, max {_num(lat['max'])} ms"
            )
            if base is not None and "throughput" in base:
                b = base["throughput"]["latency_ms"]
                line += (
                    f" (baseline p95 {_num(b['p95'])} ms, p99 {_num(b['p99'])} ms, max "
                    f"{_num(b['max'])} ms)"
                )
            per_job = t["status_requests_per_job"]
            line += (
                f"; {_num(per_job, 2)} status requests per job"
                f"{_vs(per_job, base, 'throughput', 'status_requests_per_job')}"
            )
            out.append(line)
    if not out:
        return []
    return [
        "**2. A lost event, found by aim.** With 20 % of completion events dropped (c), a "
        "file whose event was lost is found by a safety-net poll aimed at it once it is "
        "overdue against the durations of the files whose events came "
        "(`bot/backend/aim.py`): " + "; ".join(out) + ".",
        "",
    ]


CAPPED = (
    ("e", "throughput", "bot_peak_status_per_s", "peak_status_per_s",
     "with the socket cut every 10 s (e)"),
    ("b", "restart", "held_bot_peak_status_per_s", "held_peak_status_per_s",
     "polling only, the files held (b)"),
    ("b", "restart", "reconcile_bot_peak_status_per_s", "reconcile_peak_status_per_s",
     "polling only, the files resumed after a restart (b)"),
)  # fmt: skip
"""Mode, phase, the bot's peak of status requests sent, the emulator's of those arriving."""


def _cap_sentence(run: Run, base: Run | None, phase: str, sent_key: str, arrived_key: str) -> str:
    figures = run[phase]
    sent, arrived = figures.get(sent_key), figures.get(arrived_key)
    cap = float(run["settings"].get("max_poll_rate", float("nan")))
    parts = []
    if _known(sent):
        parts.append(f"the bot sent at most {_num(sent)} status requests in a second")
        parts[-1] += _against_cap(sent, cap)
    if _known(arrived):
        parts.append(
            f"at most {_num(arrived)} arrived at the emulator in a second"
            f"{_vs(arrived, base, phase, arrived_key, 1)}"
        )
        if not _known(sent):
            parts[-1] += _against_cap(arrived, cap)
    return ", ".join(parts)


def _caps(runs: Sequence[Run]) -> list[str]:
    out = []
    for profile in ("realistic", "fast"):
        for mode, phase, sent_key, arrived_key, what in CAPPED:
            for n in _sizes(runs, profile, mode):
                run = find(runs, profile, mode, n)
                if run is None or phase not in run:
                    continue
                base = find(runs, profile, mode, n, "baseline")
                measured = _cap_sentence(run, base, phase, sent_key, arrived_key)
                if not measured:
                    continue  # the stage was too short to measure a rate over 1 s
                sentence = f"*{profile}* {what}, N = {n:,}: {measured}"
                if mode == "e":
                    lat = run[phase]["latency_ms"]
                    sentence += (
                        f"; latency p50 {_num(lat['p50'])} ms, p95 {_num(lat['p95'])} ms, p99 "
                        f"{_num(lat['p99'])} ms"
                    )
                out.append(sentence)
    if not out:
        return []
    return [
        "**3. Every poll path is capped.** Every status request no event asked for (the "
        "polling-only schedule, the aimed safety net, reconciliation after a (re)connect, a "
        "resumed job's first look) takes a token of one pacer of `max_poll_rate` per second "
        "(`bot/backend/poll_queue.py`). Sent is counted by the bot (its transport notes "
        "each status request as it goes out), arrivals by the emulator: " + "; ".join(out) + ".",
        "",
    ]


def _against_cap(peak: float, cap: float) -> str:
    if not _known(cap):
        return ""
    if peak <= cap:
        return f", within the cap of {_num(cap)}/s"
    if peak <= cap * (1 + DEFAULT_BURST):
        return f", over the cap of {_num(cap)}/s by no more than its {DEFAULT_BURST:g} s burst"
    return f", over the cap of {_num(cap)}/s"


def _memory_and_restart(runs: Sequence[Run]) -> list[str]:
    held = [r for r in runs if "restart" in r and r.get("tree", "new") == "new"]
    if not held:
        return []
    largest = max(held, key=lambda r: (r["n"], r["mode"] == "a"))
    rs = largest["restart"]
    base = find(runs, largest["profile"], largest["mode"], largest["n"], "baseline")
    per_job = (rs["rss_in_flight_peak_mib"] - rs["rss_start_mib"]) * 1024 / max(rs["in_flight"], 1)
    cap = float(largest["settings"].get("max_poll_rate", float("nan")))
    floor = max(largest["n"] - cap * DEFAULT_BURST, 0) / cap  # the pacer's burst goes at once
    text = [
        f"**4. Memory and restarts.** Holding {_num(rs['in_flight'])} jobs in flight "
        f"({largest['profile']} ({largest['mode']})) peaked at "
        f"{_num(rs['rss_in_flight_peak_mib'])} MiB"
        f"{_vs(rs['rss_in_flight_peak_mib'], base, 'restart', 'rss_in_flight_peak_mib', 1)}, "
        f"about {_num(per_job)} KiB per job above the idle process. After the restart the "
        f"{_num(rs['posted'])} resumed files were posted in {_num(rs['reconcile_s'], 2)} s"
        f"{_vs(rs['reconcile_s'], base, 'restart', 'reconcile_s')}."
    ]
    if floor <= rs["reconcile_s"] < floor * 1.25:
        text.append(
            f"Each resumed file's first look is a capped poll, so {largest['n']:,} of them "
            f"take at least {_num(floor, 1)} s at {_num(cap)}/s: the cap, not the bot, sets "
            "this figure."
        )
    return [" ".join(text), ""]


def _polling(runs: Sequence[Run]) -> list[str]:
    rows = []
    for profile in ("fast", "realistic"):
        for n in _sizes(runs, profile, "b"):
            b, d = find(runs, profile, "b", n), find(runs, profile, "d", n)
            if b is None or d is None or "throughput" not in b or "throughput" not in d:
                continue
            bt, dt = b["throughput"], d["throughput"]
            bm, dm = bt["latency_ms"]["mean"], dt["latency_ms"]["mean"]
            br, dr = bt["status_requests_per_job"], dt["status_requests_per_job"]
            faster = "lower" if bm <= dm else "higher"
            fewer = "fewer" if br < dr else "more"
            rows.append(
                f"*{profile}*, N = {n:,}: mean latency {_num(bm)} vs {_num(dm)} ms ({faster}), "
                f"{_num(br, 2)} vs {_num(dr, 2)} status requests per job ({fewer})"
            )
    if not rows:
        return []
    return [
        "**5. Polling only (b) against the 2 s poll loop (d).** " + "; ".join(rows) + ".",
        "",
    ]


def findings(results: dict[str, Any]) -> list[str]:
    runs: list[Run] = results["runs"]
    body = [
        *_cpu(runs),
        *_dropped(runs),
        *_caps(runs),
        *_memory_and_restart(runs),
        *_polling(runs),
    ]
    return ["## Findings", "", *body] if body else []
