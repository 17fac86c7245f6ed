"""Render ``docs/benchmarks.md`` from the benchmark's JSON: every figure comes from it."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

Run = dict[str, Any]


def _num(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
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
    for run in runs:
        if run["profile"] == profile and run["mode"] == mode and run["n"] == n:
            return run
    return None


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


def _latency_cells(t: dict[str, Any]) -> list[str]:
    lat = t["latency_ms"]
    return [_num(lat[k]) for k in ("p50", "p95", "p99", "max", "mean")]


def mode_section(runs: Sequence[Run], profile: str, mode: str) -> list[str]:
    chosen = sorted(
        (r for r in runs if r["profile"] == profile and r["mode"] == mode), key=lambda r: r["n"]
    )
    if not chosen:
        return []
    lines = [f"### ({mode}) {chosen[0]['title']}", ""]
    rows = []
    for r in chosen:
        t = r["throughput"]
        rows.append(
            [
                f"{r['n']:,}",
                f"{t['posted']:,}",
                *_latency_cells(t),
                _num(t["status_requests_per_job"], 2),
                _num(t["http_requests_per_job"], 2),
                str(t["ws_connections"]),
                _num(t["rss_peak_mib"]),
                _num(t["cpu_ms_per_job"], 2),
                _num(t["wall_s"]),
            ]
        )
    lines += _table(
        [
            "N",
            "posted",
            "p50 ms",
            "p95 ms",
            "p99 ms",
            "max ms",
            "mean ms",
            "status req/job",
            "HTTP req/job",
            "WS conns",
            "peak RSS MiB",
            "CPU ms/job",
            "wall s",
        ],
        rows,
    )
    restarts = [r for r in chosen if "restart" in r]
    if restarts:
        lines += [
            "",
            "Restart (N jobs held by the emulator, bot stopped, files completed, new bot):",
            "",
        ]
        lines += _table(
            [
                "N",
                "in flight",
                "peak RSS MiB (N in flight)",
                "all submitted s",
                "posted after restart",
                "reconcile s",
                "status req",
            ],
            [
                [
                    f"{r['n']:,}",
                    f"{r['restart']['in_flight']:,}",
                    _num(r["restart"]["rss_in_flight_peak_mib"]),
                    _num(r["restart"]["all_submitted_s"]),
                    f"{r['restart']['posted']:,}",
                    _num(r["restart"]["reconcile_s"], 2),
                    f"{r['restart']['status_requests']:,}",
                ]
                for r in restarts
            ],
        )
    lines.append("")
    return lines


def _sizes(runs: Sequence[Run], profile: str, mode: str) -> list[int]:
    return sorted({r["n"] for r in runs if r["profile"] == profile and r["mode"] == mode})


def targets_section(runs: Sequence[Run]) -> list[str]:
    rows: list[list[str]] = []

    def add(target: str, figure: str, ok: bool | None) -> None:
        rows.append([target, figure, _verdict(ok)])

    a1000 = _find(runs, "fast", "a", 1000)
    if a1000:
        p99 = a1000["throughput"]["latency_ms"]["p99"]
        add("(a) p99 ≤ 100 ms at N = 1,000", f"p99 = {_num(p99)} ms", p99 <= 100)
    real = _find(runs, "realistic", "a", 1000)
    if real:
        p99 = real["throughput"]["latency_ms"]["p99"]
        add(
            "(a) p99 ≤ 100 ms at N = 1,000, realistic 30–40 s generations",
            f"p99 = {_num(p99)} ms",
            p99 <= 100,
        )
    a_runs = [r for r in runs if r["mode"] == "a" and r["profile"] == "fast"]
    if a_runs:
        conns = {r["n"]: r["throughput"]["ws_connections"] for r in a_runs}
        add(
            "(a) exactly one WebSocket connection at every N",
            ", ".join(f"N={n:,}: {c}" for n, c in sorted(conns.items())),
            all(c == 1 for c in conns.values()),
        )
    for profile in ("fast", "realistic"):
        for n in _sizes(runs, profile, "b"):
            b, d = _find(runs, profile, "b", n), _find(runs, profile, "d", n)
            if b is None or d is None:
                continue
            bt, dt = b["throughput"], d["throughput"]
            b_mean, d_mean = bt["latency_ms"]["mean"], dt["latency_ms"]["mean"]
            b_req, d_req = bt["status_requests_per_job"], dt["status_requests_per_job"]
            ratio = d_req / b_req if b_req else math.inf
            add(
                f"(b) vs (d), {profile}, N = {n:,}: mean latency ≤ (d) and ≥ 3× fewer "
                "status requests/job",
                f"mean {_num(b_mean)} vs {_num(d_mean)} ms; "
                f"{_num(b_req, 2)} vs {_num(d_req, 2)} req/job ({_num(ratio, 2)}×)",
                b_mean <= d_mean and ratio >= 3,
            )
    for r in runs:
        if r["n"] == 10000 and "restart" in r:
            rs = r["restart"]
            add(
                f"10,000 jobs in flight, peak RSS ≤ 300 MB ({r['profile']} ({r['mode']}))",
                f"{rs['in_flight']:,} in flight, {_num(rs['rss_in_flight_peak_mib'])} MiB",
                rs["in_flight"] >= 10000 and rs["rss_in_flight_peak_mib"] * 1.048576 <= 300,
            )
    for r in runs:
        if r["n"] == 1000 and "restart" in r:
            rs = r["restart"]
            add(
                f"1,000 pending jobs reconciled ≤ 10 s after a restart ({r['profile']} "
                f"({r['mode']}))",
                f"{_num(rs['reconcile_s'], 2)} s, {rs['posted']:,} posted",
                rs["posted"] >= 1000 and rs["reconcile_s"] <= 10,
            )
    if not rows:
        return []
    return ["## Targets", "", *_table(["target", "measured", "result"], rows, left=3), ""]


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
        "`bot/backend/superduper/transport.py`) and of httpx's default transport (httpcore's "
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
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{results.get('command', 'python -m bench run')}` on "
        f"{results['started_at']}. Do not edit: re-run it, or re-render this page from "
        "`bench/results/latest.json` with `python -m bench report`.",
        "",
        "## How to run",
        "",
        "```bash",
        "python -m bench run --sizes 100,1000,10000 --realistic-sizes 100,1000   # the full run",
        "python -m bench run --quick      # N=50 per mode, < 1 min; bench/results/quick.{json,md}",
        "python -m bench report           # this page again from the JSON",
        "```",
        "",
        "Each mode and size runs the emulator in one process and the bot in another (a fresh "
        "one per phase), so RSS and CPU are the bot's own. The bot is the real core — "
        "`ImagineBot`, a `SqliteJobStore` file in a temporary directory, the real "
        "`SuperDuperBackend` — with a recording chat adapter (`bench/chat.py`).",
        "",
        "- **Latency** (added): the chat adapter receiving the image (`time.monotonic()` in "
        "`post_image`) minus the emulator marking the file completed (`completed_at`, "
        "`time.monotonic()` in the emulator process; CLOCK_MONOTONIC is system-wide). It "
        "includes the confirming status request, the download and check of the image, the "
        "SQLite writes and the post.",
        "- **Requests** are the emulator's counters for the phase: status polls "
        "(`GET /api/files/{id}`) and all HTTP requests (WebSocket handshakes excluded), per "
        "job; **WS conns** are WebSocket connections the emulator accepted.",
        "- **Peak RSS** (VmHWM, reset at the phase start) and **CPU** (user + system, all "
        "threads, from the first `/imagine` until every job ended) of the bot process.",
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
        for mode in modes:
            lines += mode_section(runs, profile, mode)
    lines += http_cost_section(results)
    if notes is not None:
        lines += notes(results)
    return "\n".join(lines).rstrip() + "\n"
