"""Render ``docs/benchmarks.md`` from the benchmark's JSON: every figure comes from it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from bench.profiles import PROFILES
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


def _knobs(profile: str, client: dict[str, Any]) -> str:
    """Client knobs in the order their profile declares them (the JSON sorts its keys)."""
    declared = list(PROFILES[profile].client) if profile in PROFILES else []
    keys = [k for k in declared if k in client] + [k for k in client if k not in declared]
    return ", ".join(f"`{k}={client[k]}`" for k in keys)


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
        client = _knobs(name, p["client"]) or "production defaults"
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


COMFYUI_HEADER = (
    "N", "backend", "runs", "posted", "p50 ms", "p95 ms", "p99 ms", "status req/job",
    "HTTP req/job", "WS conns", "peak RSS MiB", "CPU ms/job", "wall s", "load",
)  # fmt: skip


def superduper_runs(runs: Sequence[Run]) -> list[Run]:
    """The SuperDuper runs (those without ``backend`` too)."""
    return [r for r in runs if r.get("backend", "superduper") == "superduper"]


def _comfyui_row(label: str, run: Run) -> list[str]:
    t = run["throughput"]
    return [
        f"{run['n']:,}",
        label,
        str(run.get("repeats", 1)),
        _num(t["posted"]),
        _latency_cell(t, "p50"),
        _latency_cell(t, "p95"),
        _latency_cell(t, "p99"),
        _cell(t, "status_requests_per_job", 2),
        _num(t.get("http_requests_per_job"), 2),
        str(t["ws_connections"]),
        _cell(t, "rss_peak_mib"),
        _cell(t, "cpu_ms_per_job", 2),
        _num(t["wall_s"]),
        _load(run),
    ]


def _comfyui_setup(results: dict[str, Any], first: Run) -> list[str]:
    meta = results.get("comfyui", {})
    client = _knobs(first["profile"], first["client"]) or "defaults"
    step = first["emulator"].get("step_time")
    took = f" ({_num(meta['duration_s'] / 60)} min)" if "duration_s" in meta else ""
    return [
        f"Generated by `{meta.get('command', 'python -m bench run --backend comfyui')}` on "
        f"{meta.get('started_at', '–')}{took}.",
        "",
        f"- Emulator: `emulator/comfyui` in its own process, `step_time={step}` s per sampler "
        f"step, so the built-in txt2img workflow's 20 steps take {_num((step or 0) * 20, 2)} s. "
        "It runs one prompt at a time (like ComfyUI on one GPU): the jobs queue, and the "
        "fast profile's 2–4 s per job would make N = 1,000 a queue of about 50 minutes. "
        "It renders and encodes each PNG itself (no pre-rendered image).",
        f"- Bot: the real `ComfyUIBackend` on one host, the fast profile's client timings "
        f"({client}), every other `ComfyUISettings` knob its default; the rest as for "
        "SuperDuper (a `SqliteJobStore` file, the recording chat, all N `/imagine` at once, "
        "the throughput phase only).",
        "- Status requests are `GET /history/{prompt_id}` and `GET /queue`; HTTP requests "
        "are every request but the WebSocket handshake (per route below). Latency is from "
        "the emulator writing the prompt's history entry to the chat adapter receiving the "
        "image.",
        "- The SuperDuper rows are the fast profile's runs of the same mode and N from "
        "this tree, where the runs above have one (its generations take 2–4 s each, "
        "all at once: the wall times are not comparable).",
        "",
    ]


def _comfyui_notes(runs: Sequence[Run]) -> list[str]:
    """What the figures show: polling only against the socket, per N."""
    lines = []
    for n in sorted({r["n"] for r in runs}):
        a = find(runs, "fast", "a", n, backend="comfyui")
        b = find(runs, "fast", "b", n, backend="comfyui")
        if a is None or b is None:
            continue
        ta, tb = a["throughput"], b["throughput"]
        routes = "; ".join(
            f"({run['mode']}) "
            + ", ".join(f"`{route}` {_num(count / n, 2)}" for route, count in r.items())
            for run in (a, b)
            for r in [run["throughput"]["requests"]]
        )
        lines.append(
            f"- At N = {n:,}: {_num(ta['posted'])} and {_num(tb['posted'])} of {n:,} posted; "
            f"{_num(tb['status_requests_per_job'], 2)} status requests per job with the socket "
            f"down against {_num(ta['status_requests_per_job'], 2)} with it healthy; p50 "
            f"latency {_num(tb['latency_ms']['p50'])} ms against "
            f"{_num(ta['latency_ms']['p50'])} ms; {_num(tb['cpu_ms_per_job'], 2)} CPU ms per "
            f"job against {_num(ta['cpu_ms_per_job'], 2)}. Requests per job by route: {routes}."
        )
    return ["Figures, socket down against socket healthy:", "", *lines, ""] if lines else []


def comfyui_section(results: dict[str, Any]) -> list[str]:
    """The ComfyUI runs, each next to SuperDuper's at the same mode and N."""
    runs = [r for r in results["runs"] if r.get("backend") == "comfyui" and "throughput" in r]
    if not runs:
        return []
    lines = ["## Results: ComfyUI backend", "", *_comfyui_setup(results, runs[0])]
    for mode in sorted({r["mode"] for r in runs}):
        chosen = sorted((r for r in runs if r["mode"] == mode), key=lambda r: r["n"])
        rows = []
        for run in chosen:
            rows.append(_comfyui_row("ComfyUI", run))
            other = find(results["runs"], run["profile"], mode, run["n"])
            if other is not None and "throughput" in other:
                rows.append(_comfyui_row("SuperDuper", other))
        lines += [f"### ({mode}) {chosen[0]['title']}", "", *_table(COMFYUI_HEADER, rows, left=2)]
        lines.append("")
    return lines + _comfyui_notes(runs)


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
    """The page; the targets, the profile sections and ``notes`` see SuperDuper's runs only,
    the ComfyUI runs get their own section."""
    superduper = {**results, "runs": superduper_runs(results["runs"])}
    runs: list[Run] = superduper["runs"]
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
    lines += comfyui_section(results)
    lines += http_cost_section(results)
    if notes is not None:
        lines += notes(superduper)
    return "\n".join(lines).rstrip() + "\n"
