"""The benchmark's quick path, small: mode (a) through the real core in two processes."""

from __future__ import annotations

from bench.findings import findings
from bench.orchestrate import Plan, run_plans
from bench.profiles import FAST, MODES
from bench.report import render_markdown


def test_quick_mode_a_reports_latency_requests_and_one_websocket() -> None:
    results = run_plans([Plan(FAST, [MODES["a"]], [20], timeout=30)], say=lambda _: None)

    (run,) = results["runs"]
    throughput, restart = run["throughput"], run["restart"]
    assert throughput["posted"] == 20
    assert throughput["latency_ms"]["count"] == 20
    latency = throughput["latency_ms"]
    assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
    assert throughput["ws_connections"] == 1
    assert throughput["requests"]["POST /api/generation/image"] == 20
    assert throughput["status_requests_per_job"] >= 1
    assert throughput["rss_peak_mib"] > 0 and throughput["cpu_ms_per_job"] > 0
    assert restart["in_flight"] == 20 and restart["posted"] == 20
    assert restart["reconcile_s"] > 0
    assert results["machine"]["nproc"] >= 1

    page = render_markdown(results, findings)
    assert "### (a) hybrid, WebSocket healthy" in page
    assert "| 20 | new | 1 | 20 |" in page
    assert "In (a) at N = 20 the bot spent" in page
