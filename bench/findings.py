"""The "Findings" section of the report: the explanations are written here once, every
figure in them is read from the results (or, for a knob a run did not record, from
``SuperDuperSettings``' defaults — the code that ran)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import MISSING, fields
from typing import Any

from bench.report import _find, _num
from bot.backend.superduper import SuperDuperSettings

Run = dict[str, Any]


def _sizes(runs: Sequence[Run], profile: str, mode: str) -> list[int]:
    return sorted({r["n"] for r in runs if r["profile"] == profile and r["mode"] == mode})


def _default(name: str) -> float:
    """``SuperDuperSettings``' default for a knob (the production value)."""
    (value,) = (f.default for f in fields(SuperDuperSettings) if f.name == name)
    assert value is not MISSING
    return float(value)


def _setting(run: Run, name: str) -> float:
    """A client knob the run used: recorded, overridden, or the code's default."""
    recorded = run.get("settings", {})
    if name in recorded:
        return float(recorded[name])
    if name in run["client"]:
        return float(run["client"][name])
    return _default(name)


def _spread(run: Run) -> float:
    """Width of the generation-time window: a burst's completions arrive over this long."""
    low, high = run["emulator"]["gen_time"]
    return float(high) - float(low)


def _http_cost(results: dict[str, Any]) -> dict[tuple[str, int], float]:
    cost = results.get("http_cost") or {}
    return {
        (row.get("kind", ""), row["concurrency"]): row["cpu_ms"] for row in cost.get("rows", [])
    }


def _cpu(runs: Sequence[Run], results: dict[str, Any]) -> list[str]:
    sizes = _sizes(runs, "fast", "a")
    if not sizes:
        return []
    n = 1000 if 1000 in sizes else sizes[-1]
    a = _find(runs, "fast", "a", n)
    assert a is not None
    t = a["throughput"]
    cpu = t["cpu_ms_per_job"]
    spread = _spread(a)
    load = n / spread * cpu / 1000
    text = [
        "**1. CPU per job sets the throughput.** "
        f"In (a) at N = {n:,} the bot spent {_num(cpu, 2)} ms of CPU per job (submit, "
        "status, download, SQLite, chat): one core completes about "
        f"{_num(1000 / cpu)} jobs/s end to end."
    ]
    cost = _http_cost(results)
    p1, p32 = cost.get(("project", 1)), cost.get(("project", 32))
    h1, h32 = cost.get(("httpcore", 1)), cost.get(("httpcore", 32))
    if p1 and p32 and h1 and h32:
        text.append(
            "That is after the change this benchmark motivated: `make_http_client` now sends "
            "through `AiohttpTransport` (`bot/backend/superduper/transport.py`). In the table "
            f"above a request costs {_num(p1, 2)} / {_num(p32, 2)} ms of CPU (1 / 32 in "
            f"flight) that way, against {_num(h1, 2)} / {_num(h32, 2)} ms through httpx's "
            f"default transport ({_num(h32 / p32)}× at 32 in flight). The first full run's "
            "profile (pyinstrument, py-spy) put that cost in httpcore's pool: every request "
            "and every release runs `AsyncConnectionPool._assign_requests_to_connections`, "
            "which calls `has_expired()` on every pooled connection (`getpeername` and a "
            "`poll()` syscall each), and `current_async_library()` retries `import sniffio` "
            "(not installed) for every lock and event it creates."
        )
    small = _find(runs, "fast", "a", sizes[0])
    verdict = (
        "more than one core can give, so the completions queue inside the bot and the "
        "latency columns measure that queue"
        if load > 1
        else "within one core, so the latency columns measure the watcher, not a queue"
    )
    text.append(
        f"A burst of N jobs whose generations end within the same {spread:g} s window "
        f"asks for N / {spread:g} completions per second; at N = {n:,} that is "
        f"{_num(load, 2)} CPU-seconds per second, {verdict} (p50 "
        f"{_num(t['latency_ms']['p50'])} ms, p99 {_num(t['latency_ms']['p99'])} ms"
        + (
            f", against p50 {_num(small['throughput']['latency_ms']['p50'])} ms at "
            f"N = {sizes[0]:,})."
            if small is not None and sizes[0] != n
            else ")."
        )
    )
    real = _find(runs, "realistic", "a", n)
    if real is not None:
        rt = real["throughput"]
        rspread = _spread(real)
        rload = n / rspread * rt["cpu_ms_per_job"] / 1000
        text.append(
            f"At the real service's {real['emulator']['gen_time'][0]:g}–"
            f"{real['emulator']['gen_time'][1]:g} s the same burst spreads over "
            f"{rspread:g} s ({_num(rload, 2)} CPU-seconds per second at "
            f"{_num(rt['cpu_ms_per_job'], 2)} ms/job): p99 is {_num(rt['latency_ms']['p99'])} ms "
            f"and p50 {_num(rt['latency_ms']['p50'])} ms."
        )
    return [" ".join(text), ""]


def _websocket(runs: Sequence[Run], profiles: dict[str, Any]) -> list[str]:
    a_runs = sorted(
        (r for r in runs if r["mode"] == "a" and r["profile"] == "fast"), key=lambda r: r["n"]
    )
    if not a_runs:
        return []
    conns = ", ".join(f"{r['throughput']['ws_connections']}" for r in a_runs)
    sizes = ", ".join(f"{r['n']:,}" for r in a_runs)
    per_job = ", ".join(
        f"{_num(r['throughput']['status_requests_per_job'], 2)} (N = {r['n']:,})" for r in a_runs
    )
    small = a_runs[0]
    extra = round((small["throughput"]["status_requests_per_job"] - 1) * small["n"])
    channels = profiles.get("fast", {}).get("channels")
    projects = f" ({channels} channels, one project each)" if channels else ""
    return [
        f"**2. One WebSocket per process, about one status request per job.** (a) opened "
        f"{conns} WebSocket connection(s) at N = {sizes}, and made {per_job} status "
        "requests per job. A file whose project's subscription was already acknowledged when "
        "its wait began skips the early first poll (the watcher change after the first run), "
        "so it costs only the request that confirms its completion event; the remainder "
        f"({extra:,} polls at N = {small['n']:,}) are the first files of each "
        f"project{projects}, submitted before their project was subscribed and therefore "
        "still polled at `expected_generation_time`.",
        "",
    ]


def _dropped(runs: Sequence[Run]) -> list[str]:
    c_runs = sorted(
        (r for r in runs if r["mode"] == "c" and r["profile"] == "fast"), key=lambda r: r["n"]
    )
    if not c_runs:
        return []
    first = c_runs[0]
    net, rate = _setting(first, "safety_net_poll"), _setting(first, "safety_net_rate")
    parts = []
    for r in c_runs:
        lat = r["throughput"]["latency_ms"]
        interval = max(net, r["n"] / rate)
        parts.append(
            f"N = {r['n']:,}: p50 {_num(lat['p50'])} ms, p95 {_num(lat['p95'])} ms, max "
            f"{_num(lat['max'])} ms (interval up to {_num(interval)} s)"
        )
    last = c_runs[-1]
    binds = net * rate
    prod_binds = _default("safety_net_poll") * _default("safety_net_rate")
    return [
        "**3. A dropped event costs up to one safety-net interval.** With 20 % of completion "
        "events dropped (c), a file whose event was lost is found by its safety-net poll, "
        f"due every max(`safety_net_poll`, files watched / `safety_net_rate`) seconds — "
        f"`safety_net_poll` = {_num(net)} s and `safety_net_rate` = {_num(rate)}/s here, the "
        "interval taken when the watch goes to sleep, ±20 % jitter: " + "; ".join(parts) + ". "
        "The rate cap (added after the first run) keeps the safety net's load at most "
        f"{_num(rate)} status requests per second however many files are in flight; the price "
        "is paid by the files whose event was lost, and it binds above `safety_net_poll` × "
        f"`safety_net_rate` files in flight: {binds:,.0f} here (this profile scales "
        f"`safety_net_poll` down but not the rate), {prod_binds:,.0f} with the production "
        f"defaults. At N = {last['n']:,} the slowest lost event was found after "
        f"{_num(last['throughput']['latency_ms']['max'] / 1000)} s.",
        "",
    ]


def _schedule(run: Run) -> str:
    expected = _setting(run, "expected_generation_time")
    tight = max(_setting(run, "poll_interval_min"), expected / 15)
    cap = _setting(run, "poll_interval_cap")
    return (
        f"first poll at {_num(expected)} s, then every {_num(tight)} s until "
        f"{_num(expected * 1.5)} s, then half the time overdue, capped at {_num(cap)} s"
    )


def _polling(runs: Sequence[Run], profiles: dict[str, Any]) -> list[str]:
    lines: list[str] = []
    for profile in ("fast", "realistic"):
        sizes = [n for n in _sizes(runs, profile, "b") if _find(runs, profile, "d", n)]
        if not sizes:
            continue
        b0 = _find(runs, profile, "b", sizes[0])
        assert b0 is not None
        rows = []
        for n in sizes:
            b, d = _find(runs, profile, "b", n), _find(runs, profile, "d", n)
            assert b is not None and d is not None
            bt, dt = b["throughput"], d["throughput"]
            rows.append(
                f"N = {n:,}: mean {_num(bt['latency_ms']['mean'])} vs "
                f"{_num(dt['latency_ms']['mean'])} ms, "
                f"{_num(bt['status_requests_per_job'], 2)} vs "
                f"{_num(dt['status_requests_per_job'], 2)} status requests/job, "
                f"{_num(bt['cpu_ms_per_job'], 2)} vs {_num(dt['cpu_ms_per_job'], 2)} CPU ms/job"
            )
        interval = float(profiles[profile]["baseline_interval"])
        gen = b0["emulator"]["gen_time"]
        lines.append(
            f"*{profile}* ({gen[0]:g}–{gen[1]:g} s generations; (b): "
            f"{_schedule(b0)}; (d) every {_num(interval)} s): " + "; ".join(rows) + "."
        )
    if not lines:
        return []
    head = (
        "**4. Polling only (b) against the baseline (d).** Since the first run the "
        "polling-only schedule is tight around the expected completion and backs off only "
        "once a file is overdue; before, the interval after the first poll grew ×1.5 up to "
        "`poll_interval_cap` (15 s by default), so a file finishing a little late waited up "
        "to one long interval."
    )
    return [" ".join([head, *lines, *_polling_limits(runs, profiles)]), ""]


def _polling_limits(runs: Sequence[Run], profiles: dict[str, Any]) -> list[str]:
    """Why (b) misses what it misses, each point only where the figures show it."""
    out: list[str] = []
    fast = _sizes(runs, "fast", "d")
    if fast:
        d = _find(runs, "fast", "d", fast[0])
        assert d is not None
        d_req = d["throughput"]["status_requests_per_job"]
        if d_req < 3:
            out.append(
                f"On 2–4 s generations the baseline needs only {_num(d_req, 2)} status requests "
                "per job and any scheme needs at least one, so “3× fewer” cannot be met at that "
                "ratio of generation time to interval; the tight polls buy latency with requests."
            )
    real = _sizes(runs, "realistic", "b")
    if real and "realistic" in profiles:
        b = _find(runs, "realistic", "b", real[0])
        assert b is not None
        expected = _setting(b, "expected_generation_time")
        tight = max(_setting(b, "poll_interval_min"), expected / 15)
        interval = float(profiles["realistic"]["baseline_interval"])
        if abs(tight - interval) < 1e-9:
            bias = 0.2**2 / 3  # uniform ±20 %: E[L²] / E[L]² - 1
            out.append(
                f"On 30–40 s generations (b)'s tight interval ({_num(tight)} s = "
                f"`expected_generation_time` / 15) equals the baseline's, and its ±20 % jitter, "
                "drawn per poll, makes the gap a completion falls into longer on average "
                f"(length bias, +{_num(bias * 100)} %), so “mean latency ≤ (d)” is a coin toss "
                "decided by that bias and noise; a tight interval a little below the "
                "baseline's would remove the bias."
            )
    held = [
        (mode, _find(runs, "fast", mode, n))
        for n in _sizes(runs, "fast", "b")[-1:]
        for mode in ("a", "b", "d")
    ]
    found = {mode: r for mode, r in held if r is not None and "restart" in r}
    if "b" in found:
        b = found["b"]
        n, cap = b["n"], _setting(b, "poll_interval_cap")
        others = ", ".join(
            f"({m}) {_num(found[m]['restart']['all_submitted_s'])} s"
            for m in ("a", "d")
            if m in found
        )
        out.append(
            f"With N = {n:,} files held by the service (the restart phase), (b) needed "
            f"{_num(b['restart']['all_submitted_s'])} s until all were submitted"
            + (f" ({others})" if others else "")
            + f": once overdue every held file is polled every `poll_interval_cap` = "
            f"{_num(cap)} s, {_num(n / cap)} status requests per second in total, more than the "
            "bot serves, and the submissions queue behind the polls. Polling-only has no total "
            "rate cap (the safety net has one), so a long outage with many files in flight "
            "saturates the bot the same way the baseline's loops do."
        )
    return out


def _memory_and_restart(runs: Sequence[Run]) -> list[str]:
    held = [r for r in runs if "restart" in r]
    if not held:
        return []
    largest = max(held, key=lambda r: (r["n"], r["mode"] == "a"))
    rs = largest["restart"]
    idle_rss = rs.get("rss_start_mib", largest["throughput"]["rss_start_mib"])
    per_job = (rs["rss_in_flight_peak_mib"] - idle_rss) * 1024
    per_job /= max(rs["in_flight"], 1)
    reconciles = ", ".join(
        f"({r['mode']}) N = {r['n']:,}: {_num(r['restart']['reconcile_s'], 2)} s"
        for r in sorted(held, key=lambda r: (r["mode"], r["n"]))
    )
    return [
        f"**5. Memory and restarts.** Holding {rs['in_flight']:,} jobs in flight "
        f"({largest['profile']} ({largest['mode']})) peaked at "
        f"{_num(rs['rss_in_flight_peak_mib'])} MiB, about {_num(per_job)} KiB per job above "
        "the idle process. After a restart the watcher polls every resumed file at once "
        "(they may have finished while the bot was down), so reconciling is bounded by the "
        f"per-job work above, not by a poll schedule: {reconciles}.",
        "",
    ]


def findings(results: dict[str, Any]) -> list[str]:
    runs: list[Run] = results["runs"]
    body = [
        *_cpu(runs, results),
        *_websocket(runs, results["profiles"]),
        *_dropped(runs),
        *_polling(runs, results["profiles"]),
        *_memory_and_restart(runs),
    ]
    return ["## Findings", "", *body] if body else []
