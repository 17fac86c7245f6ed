"""Turn one phase's raw measurements into the figures the report shows."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any

STATUS_ROUTE = "GET /api/files/{id}"
WS_ROUTE = "GET /ws"


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


def summarize_throughput(raw: Mapping[str, Any]) -> dict[str, Any]:
    n = int(raw["n"])
    before, after = raw["emulator_before"], raw["emulator_after"]
    requests = request_diff(before, after)
    http_total = sum(count for route, count in requests.items() if route != WS_ROUTE)
    latency = latency_summary(added_latencies_ms(raw["posted_at"], after["completed_at"]))
    return {
        "n": n,
        "posted": raw["states"].get("posted", 0),
        "states": raw["states"],
        "finished": raw["finished"],
        "latency_ms": latency,
        "status_requests_per_job": requests.get(STATUS_ROUTE, 0) / n,
        "http_requests_per_job": http_total / n,
        "requests": requests,
        "ws_connections": after["ws_connections"] - before["ws_connections"],
        "ws_handshakes": requests.get(WS_ROUTE, 0),
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


def summarize_restart(raw: Mapping[str, Any]) -> dict[str, Any]:
    requests = request_diff(raw["emulator_before"], raw["emulator_after"])
    return {
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
