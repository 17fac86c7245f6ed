"""Turn one phase's raw measurements into the figures the report shows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final

STATUS_ROUTE = "GET /api/files/{id}"
WS_ROUTE = "GET /ws"
STATUS_ROUTES: Final[Mapping[str, tuple[str, ...]]] = MappingProxyType(
    {
        "superduper": (STATUS_ROUTE,),
        "comfyui": tuple(
            f"GET {prefix}{path}"
            for prefix in ("", "/api")
            for path in ("/history/{prompt_id}", "/queue")
        ),
    }
)
"""Per service (emulator): the routes whose requests are status requests."""
WS_ROUTES: Final = frozenset({WS_ROUTE, "GET /api/ws"})


def status_count(requests: Mapping[str, int], routes: Iterable[str]) -> int:
    return sum(requests.get(route, 0) for route in routes)


def percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear-interpolated percentile (``q`` in 0..100) of already sorted values."""
    if not sorted_values:
        return math.nan
    position = (len(sorted_values) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def latency_summary(latencies_ms: Sequence[float]) -> dict[str, float]:
    values = sorted(latencies_ms)
    if not values:
        nan = math.nan
        return {"count": 0, "mean": nan, "p50": nan, "p95": nan, "p99": nan, "max": nan, "min": nan}
    return {
        "count": len(values),
        "mean": sum(values) / len(values),
        "min": values[0],
        "p50": percentile(values, 50),
        "p95": percentile(values, 95),
        "p99": percentile(values, 99),
        "max": values[-1],
    }


def request_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, int]:
    diff = Counter(after["requests"])
    diff.subtract(before["requests"])
    return {route: count for route, count in sorted(diff.items()) if count}


def added_latencies_ms(
    posted_at: Mapping[str, float], completed_at: Mapping[str, float]
) -> list[float]:
    """Per file: image received by the chat adapter minus the emulator's completion time."""
    return [
        (posted - completed_at[file_id]) * 1000
        for file_id, posted in posted_at.items()
        if file_id in completed_at
    ]


Timeline = Sequence[Sequence[float]]
"""``(monotonic time, status requests so far, HTTP requests so far)`` samples."""


def peak_rates(
    timeline: Timeline, start: float, end: float, window: float = 1.0
) -> dict[str, float]:
    """The most status and HTTP requests per second over any ``window`` seconds between
    ``start`` and ``end`` (NaN without two samples that far apart)."""
    points = [p for p in timeline if start <= p[0] <= end]
    peak = {"status": math.nan, "http": math.nan}
    j = 0
    for i, (t0, status0, http0) in enumerate(points):
        j = max(j, i + 1)
        while j < len(points) and points[j][0] - t0 < window:
            j += 1
        if j == len(points):
            break
        t1, status1, http1 = points[j]
        span = t1 - t0
        for key, rate in (("status", (status1 - status0) / span), ("http", (http1 - http0) / span)):
            if not rate <= peak[key]:  # NaN-safe max
                peak[key] = rate
    return peak


def phase_peaks(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, float]:
    """Peak request rates between two ``/stats`` answers (both with their ``timeline``)."""
    timeline: Timeline = after.get("timeline") or []
    start_points = before.get("timeline") or []
    start = start_points[-1][0] if start_points else -math.inf
    return peak_rates(timeline, start, math.inf)


def summarize_throughput(raw: Mapping[str, Any]) -> dict[str, Any]:
    n = int(raw["n"])
    before, after = raw["emulator_before"], raw["emulator_after"]
    requests = request_diff(before, after)
    peaks = phase_peaks(before, after)
    http_total = sum(count for route, count in requests.items() if route not in WS_ROUTES)
    status = status_count(requests, after.get("status_routes", (STATUS_ROUTE,)))
    latency = latency_summary(added_latencies_ms(raw["posted_at"], after["completed_at"]))
    return {
        "n": n,
        "posted": raw["states"].get("posted", 0),
        "states": raw["states"],
        "finished": raw["finished"],
        "latency_ms": latency,
        "status_requests_per_job": status / n,
        "http_requests_per_job": http_total / n,
        "requests": requests,
        "peak_status_per_s": peaks["status"],
        "bot_peak_status_per_s": raw.get("bot_peak_status_per_s", math.nan),
        "emulator_cpu_ms_per_job": (after.get("cpu_s", math.nan) - before.get("cpu_s", math.nan))
        / n
        * 1000,
        "peak_http_per_s": peaks["http"],
        "ws_connections": after["ws_connections"] - before["ws_connections"],
        "ws_handshakes": status_count(requests, WS_ROUTES),
        "ws_messages": after["ws_messages_sent"] - before["ws_messages_sent"],
        "rss_start_mib": raw["rss_start_mib"],
        "rss_peak_mib": raw["rss_peak_mib"],
        "cpu_s": raw["cpu_s"],
        "cpu_ms_per_job": raw["cpu_s"] / n * 1000,
        "wall_s": raw["wall_s"],
        "accept_s": raw["accept_s"],
        "peak_pending": raw["peak_pending"],
        "peak_watching": raw["peak_watching"],
        "failure_texts": raw["failure_texts"],
    }


def summarize_restart(raw: Mapping[str, Any], started: float = -math.inf) -> dict[str, Any]:
    """``started``: when the phase began (monotonic), where its held-files stage starts."""
    requests = request_diff(raw["emulator_before"], raw["emulator_after"])
    held = peak_rates(raw["emulator_before"].get("timeline") or [], started, math.inf)
    after = phase_peaks(raw["emulator_before"], raw["emulator_after"])
    return {
        "held_peak_status_per_s": held["status"],
        "reconcile_peak_status_per_s": after["status"],
        "held_bot_peak_status_per_s": raw.get("held_bot_peak_status_per_s", math.nan),
        "reconcile_bot_peak_status_per_s": raw.get("reconcile_bot_peak_status_per_s", math.nan),
        "n": raw["n"],
        "in_flight": raw["in_flight"],
        "watching": raw["watching"],
        "all_submitted_s": raw["all_submitted_s"],
        "rss_start_mib": raw["rss_start_mib"],
        "rss_in_flight_peak_mib": raw["rss_in_flight_peak_mib"],
        "resumed": raw["resumed"],
        "posted": raw["posted"],
        "finished": raw["finished"],
        "unfinished_after": raw["unfinished_after"],
        "reconcile_s": raw["reconcile_s"],
        "status_requests": requests.get(STATUS_ROUTE, 0),
        "requests": requests,
        "ws_connections": raw["emulator_after"]["ws_connections"]
        - raw["emulator_before"]["ws_connections"],
    }


RANGED = (
    "cpu_ms_per_job",
    "rss_peak_mib",
    "status_requests_per_job",
    "peak_status_per_s",
    "wall_s",
    "rss_in_flight_peak_mib",
    "reconcile_s",
    "all_submitted_s",
    "held_peak_status_per_s",
    "reconcile_peak_status_per_s",
    "bot_peak_status_per_s",
    "held_bot_peak_status_per_s",
    "reconcile_bot_peak_status_per_s",
)
"""Figures whose range over the repeats is kept beside the median."""


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _median(values: Sequence[float]) -> float:
    finite = sorted(v for v in values if not math.isnan(v))
    if not finite:
        return math.nan
    if all(isinstance(v, int) for v in finite):
        return finite[(len(finite) - 1) // 2]  # the lower median keeps counts whole
    middle = len(finite) // 2
    return finite[middle] if len(finite) % 2 else (finite[middle - 1] + finite[middle]) / 2


def combine(samples: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One summary from the repeats: the median of every figure (latency percentiles too,
    each the median of the repeats' own), anything else from the first; ``range`` holds
    ``[min, max]`` of the ``RANGED`` figures and of the p99 latency."""
    first = samples[0]
    out: dict[str, Any] = {}
    for key, value in first.items():
        values: list[Any] = [s.get(key) for s in samples]
        if all(_is_number(v) for v in values):
            out[key] = _median(values)
        elif all(isinstance(v, Mapping) for v in values) and key == "latency_ms":
            out[key] = combine(values)
            out[key].pop("range", None)
        else:
            out[key] = value
    ranges: dict[str, list[float]] = {}
    for key in RANGED:
        figures: list[float] = [
            s[key] for s in samples if _is_number(s.get(key)) and not math.isnan(s[key])
        ]
        if figures:
            ranges[key] = [min(figures), max(figures)]
    for name in ("p95", "p99"):
        got = [s["latency_ms"][name] for s in samples if "latency_ms" in s]
        if got:
            ranges[f"latency_{name}"] = [min(got), max(got)]
    out["range"] = ranges
    return out
