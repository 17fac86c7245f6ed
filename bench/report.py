"""Render ``docs/benchmarks.md`` from the benchmark's JSON: every figure comes from it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench.pyspy import plumbing
from bench.targets import Verdict, find, judge

Run = dict[str, Any]


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    if isinstance(value, int):
        return f"{value:,}"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _table(header: Sequence[str], rows: Iterable[Sequence[str]], *, left: int = 1) -> list[str]:
    """A markdown table; the first ``left`` columns left-aligned, the rest right-aligned."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return lines


def _find(runs: Sequence[Run], profile: str, mode: str, n: int) -> Run | None:
    """The ``new`` tree's run of a workload."""
    return find(runs, profile, mode, n)


def _verdict(ok: bool | None) -> str:
    return "–" if ok is None else ("**met**" if ok else "**missed**")


def machine_section(results: dict[str, Any]) -> list[str]:
    m = results["machine"]
    return [
        "## Machine",
        "",
        *_table(
            ["nproc", "CPU", "RAM", "Python", "OS", "date"],
            [
                [
                    str(m["nproc"]),
                    m["cpu_model"],
                    f"{m['ram_gib']} GiB",
                    m["python"],
                    m["platform"],
                    m["date"],
                ]
            ],
            left=6,
        ),
        "",
        f"The whole command took {_num(results['duration_s'] / 60)} min.",
        "",
    ]


def setup_section(results: dict[str, Any]) -> list[str]:
    lines = ["## Set-up", ""]
    for name, p in results["profiles"].items():
        client = ", ".join(f"`{k}={v}`" for k, v in p["client"].items()) or "production defaults"
        lines += [
            f"**Profile `{name}`**: {p['description']}.",
            "",
            f"- Emulator generation time: uniform {p['gen_time'][0]:g}–{p['gen_time'][1]:g} s; "
            f"results are one pre-rendered {p['image_side']}×{p['image_side']} PNG "
            "(the emulator's `image_override`), so PNG encoding does not dominate.",
            f"- Hybrid client settings (`SuperDuperSettings`): {client}; everything else default "
            "(`max_concurrent_requests=32`).",
            f"- Baseline (d): sleep {p['baseline_interval']:g} s, then `GET /api/files/{{id}}`, "
            "repeat; the real client for submit, status and download.",
            f"- Jobs come from {p['users']} users in {p['channels']} channels (one project per "
            "channel); `max_jobs_per_user` and `max_running_jobs` are N + 1, so fairness never "
            "queues a job.",
            "",
        ]
    return lines


def _cell(phase: dict[str, Any], key: str, digits: int = 1) -> str:
    """The median, with the repeats' range beside it when there were several."""
    value = phase.get(key)
    spread = phase.get("range", {}).get(key)
    text = _num(value, digits)
    if spread and len(phase.get("range", {})) and spread[0] != spread[1]:
        text += f" ({_num(spread[0], digits)}–{_num(spread[1], digits)})"
    return text


def _peaks(phase: dict[str, Any], arrived: str, sent: str) -> str:
    """The emulator's peak of arrivals, the bot's of sends in brackets (when it counted)."""
    text = _cell(phase, arrived)
    value = phase.get(sent)
    if isinstance(value, int | float) and not math.isnan(value):
        text += f" ({_num(value)})"
    return text


def _latency_cell(phase: dict[str, Any], name: str) -> str:
    text = _num(phase["latency_ms"][name])
    spread = phase.get("range", {}).get(f"latency_{name}")
    if spread and spread[0] != spread[1]:
        text += f" ({_num(spread[0])}–{_num(spread[1])})"
    return text


def _runs_of(runs: Sequence[Run], profile: str, mode: str) -> list[Run]:
    order = {"baseline": 0, "new": 1}
    chosen = [r for r in runs if r["profile"] == profile and r["mode"] == mode]
    return sorted(chosen, key=lambda r: (r["n"], order.get(r.get("tree", "new"), 2)))


def _load(run: Run) -> str:
    loads = [sample[0] for sample in run.get("load", [])]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "–"


THROUGHPUT_HEADER = (
    "N", "tree", "runs", "posted", "p50 ms", "p95 ms", "p99 ms", "max ms", "status req/job",
    "peak status req/s arrived (sent)", "WS conns", "peak RSS MiB", "CPU ms/job",
    "emulator CPU ms/job", "wall s", "load",
)  # fmt: skip
RESTART_HEADER = (
    "N", "tree", "runs", "in flight", "peak RSS MiB (N in flight)", "all submitted s",
    "peak status req/s held: arrived (sent)", "posted after restart", "reconcile s",
    "peak status req/s reconciling: arrived (sent)", "load",
)  # fmt: skip


def mode_section(runs: Sequence[Run], profile: str, mode: str) -> list[str]:
    chosen = _runs_of(runs, profile, mode)
    if not chosen:
        return []
    lines = [f"### ({mode}) {chosen[0]['title']}", ""]
    throughput = [r for r in chosen if "throughput" in r]
    if throughput:
        rows = []
        for r in throughput:
            t = r["throughput"]
            rows.append(
                [
                    f"{r['n']:,}",
                    r.get("tree", "new"),
                    str(r.get("repeats", 1)),
                    f"{_num(t['posted'])}",
                    _latency_cell(t, "p50"),
                    _latency_cell(t, "p95"),
                    _latency_cell(t, "p99"),
                    _num(t["latency_ms"]["max"]),
                    _cell(t, "status_requests_per_job", 2),
                    _peaks(t, "peak_status_per_s", "bot_peak_status_per_s"),
                    str(t["ws_connections"]),
                    _cell(t, "rss_peak_mib"),
                    _cell(t, "cpu_ms_per_job", 2),
                    _num(t.get("emulator_cpu_ms_per_job"), 2),
                    _num(t["wall_s"]),
                    _load(r),
                ]
            )
        lines += _table(THROUGHPUT_HEADER, rows, left=2)
        lines.append("")
    restarts = [r for r in chosen if "restart" in r]
    if restarts:
        lines += [
            "Restart (N jobs held by the emulator, bot stopped, files completed, new bot):",
            "",
        ]
        rows = []
        for r in restarts:
            rs = r["restart"]
            rows.append(
                [
                    f"{r['n']:,}",
                    r.get("tree", "new"),
                    str(r.get("repeats", 1)),
                    f"{_num(rs['in_flight'])}",
                    _cell(rs, "rss_in_flight_peak_mib"),
                    _cell(rs, "all_submitted_s"),
                    _peaks(rs, "held_peak_status_per_s", "held_bot_peak_status_per_s"),
                    f"{_num(rs['posted'])}",
                    _cell(rs, "reconcile_s", 2),
                    _peaks(rs, "reconcile_peak_status_per_s", "reconcile_bot_peak_status_per_s"),
                    _load(r),
                ]
            )
        lines += _table(RESTART_HEADER, rows, left=2)
        lines.append("")
    return lines


def _figure(value: float | None, unit: str) -> str:
    if value is None:
        return "–"
    return f"{_num(value, 2 if abs(value) < 10 else 1)} {unit}"


def targets_section(runs: Sequence[Run]) -> list[str]:
    verdicts = judge(runs)
    if not verdicts:
        return []
    rows = []
    for v in verdicts:
        t = v.target
        spread = f" ({_num(v.new_range[0], 2)}–{_num(v.new_range[1], 2)})" if v.new_range else ""
        how = (
            (f"≤ {_num(t.ratio, 2)} × baseline" if t.ratio is not None else "as stated")
            if not callable(t.limit)
            else "the configured `max_poll_rate` with its 0.1 s burst"
        )
        ratio = f"{_num(v.new / v.baseline, 2)}×" if v.baseline not in (None, 0.0) else "–"
        rows.append(
            [
                f"{t.key}: {t.text} ({t.profile} ({t.mode}), N = {t.n:,})",
                _figure(v.baseline, t.unit),
                _figure(v.new, t.unit) + spread,
                ratio,
                f"{_figure(v.bound, t.unit)} ({how})",
                _verdict(v.met),
            ]
        )
    return [
        "## Targets",
        "",
        "Medians of the runs of each tree (the range of the new tree's runs in brackets); "
        "`–` where the baseline was not run.",
        "",
        *_table(["target", "baseline", "new", "new / baseline", "bound", "result"], rows),
        "",
        *profiles_section(verdicts),
    ]


def _share(fraction: float | None) -> str:
    return "" if fraction is None else _num(fraction * 100, 1)


def profiles_section(verdicts: Sequence[Verdict]) -> list[str]:
    """For each missed target: where its workload's CPU went (py-spy, an extra run)."""
    lines: list[str] = []
    for v in verdicts:
        if v.met is not False:
            continue
        profile = v.run.get("profile_cpu", {}).get(v.target.phase)
        lines += [f"**{v.target.key} missed: the profile.** "]
        if not profile or not profile.get("samples"):
            lines[-1] += (
                "No profile in this run (`--profile-cpu` with py-spy installed records one)."
            )
            lines.append("")
            continue
        lines[-1] += (
            f"py-spy, {profile['samples']:,} samples of the bot process (all threads, idle "
            "time not sampled) in an extra run of the same workload; each function's share "
            "of them, by own time and by total time:"
        )
        lines.append("")
        totals = [entry for entry in profile["total"] if not plumbing(entry[0])]
        rows = [
            [own[0], _share(own[1]), total[0], _share(total[1])]
            for own, total in itertools.zip_longest(
                profile["self"][:12], totals[:12], fillvalue=("", None)
            )
        ]
        lines += _table(["own time: function", "%", "total time: function", "%"], rows, left=1)
        lines.append("")
    return lines


def http_cost_section(results: dict[str, Any]) -> list[str]:
    cost = results.get("http_cost")
    if not cost:
        return []
    lines = [
        "## HTTP client cost",
        "",
        f"{cost['requests']:,} `GET /api/files/{{id}}` through `SuperDuperClient.send` against "
        "the emulator process, measured in a separate process: CPU per request of the "
        "project's `make_http_client` (httpx over `AiohttpTransport`, "
        "`bot/backend/transport.py`) and of httpx's default transport (httpcore's "
        "connection pool, what `make_http_client` used before).",
        "",
    ]
    lines += _table(
        ["client", "in flight", "CPU ms/request", "requests/s"],
        [
            [row["client"], str(row["concurrency"]), _num(row["cpu_ms"], 3), _num(row["rate"])]
            for row in cost["rows"]
        ],
    )
    lines.append("")
    return lines


def render_markdown(
    results: dict[str, Any], notes: Callable[[dict[str, Any]], list[str]] | None = None
) -> str:
    runs: list[Run] = results["runs"]
    trees = results.get("trees", {"new": "."})
    compared = (
        f"the baseline tree (`{trees['baseline']}`) and this one"
        if "baseline" in trees
        else "this tree only (no `--baseline`)"
    )
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results.get('command', 'python -m bench run')}` on "
        f"{results['started_at']}, comparing {compared}. Do not edit: re-run it, or "
        "re-render this page from `bench/results/latest.json` with `python -m bench report`.",
        "",
        "## How to run",
        "",
        "```bash",
        "git worktree add ../perf-baseline 1fb45c6                # the baseline, once",
        "pip install py-spy                                       # for --profile-cpu only",
        "python -m bench run --baseline ../perf-baseline --profile-cpu   # the full run",
        "python -m bench run --quick      # N=50 per mode, < 2 min; bench/results/quick.{json,md}",
        "python -m bench report           # this page again from the JSON",
        "```",
        "",
        "The full run is one workload per target of issue #15 (`bench/plans.py`), cut to "
        "keep it near half an hour on a 2-core machine: 3 runs per tree of the short "
        "workload ((a) at N = 1,000), 2 of the long ones, 1 of polling only at N = 10,000 "
        "(the `runs` column), no N = 100 matrix (`--sizes` runs one) and no ComfyUI. Each "
        "workload runs the emulator in one process and the bot in another (a fresh one per "
        "phase), so RSS and CPU are the bot's own. With `--baseline TREE` the bot process is "
        "started from that checkout too (its working directory and first on `PYTHONPATH`: "
        "its own code), against the same emulator code (this tree's) with the same knobs; "
        "client knobs the baseline does not have are left out. The repeats alternate the "
        "trees (A/B/A/B) and every figure is the median of a tree's runs, the range in "
        "brackets. The bot is the real core — `ImagineBot`, a `SqliteJobStore` file in a "
        "temporary directory, the real `SuperDuperBackend` — with a recording chat adapter "
        "(`bench/chat.py`).",
        "",
        "- **Latency** (added): the chat adapter receiving the image (`time.monotonic()` in "
        "`post_image`) minus the emulator marking the file completed (`completed_at`, "
        "`time.monotonic()` in the emulator process; CLOCK_MONOTONIC is system-wide). It "
        "includes the confirming status request, the download and check of the image, the "
        "SQLite writes and the post.",
        "- **Requests** are the emulator's counters for the phase: status polls "
        "(`GET /api/files/{id}`) per job, and the most status polls in any 1 s window "
        "(sampled every 0.2 s); **WS conns** are WebSocket connections the emulator accepted.",
        "- **Peak RSS** (VmHWM, reset at the phase start) and **CPU** (user + system, all "
        "threads, from the first `/imagine` until every job ended) of the bot process; the "
        "emulator's CPU per job beside it.",
        "- **Load**: the machine's 1-minute load average before and after each run (other "
        "work shares this machine: the figures are noisy, hence the medians).",
        "- **Throughput phase**: all N `/imagine` commands are issued at once (a burst), and "
        "the phase ends when every job has ended.",
        "- **Restart phase**: the emulator holds every file (`manual_completion`); once all N "
        "jobs are `submitted` (N in flight: the RSS column), the bot is stopped, the files are "
        "completed, and a new bot opens the same database. *Reconcile* is from the new bot's "
        "construction to the last image posted.",
        "",
        *machine_section(results),
        *setup_section(results),
        *targets_section(runs),
    ]
    for profile in results["profiles"]:
        modes = list(dict.fromkeys(r["mode"] for r in runs if r["profile"] == profile))
        lines += [f"## Results: profile `{profile}`", ""]
        for mode in sorted(modes):
            lines += mode_section(runs, profile, mode)
    lines += http_cost_section(results)
    if notes is not None:
        lines += notes(results)
    return "\n".join(lines).rstrip() + "\n"
