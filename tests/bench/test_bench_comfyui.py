"""The ComfyUI workloads, tiny: modes (a) and (b) through the real core and
``ComfyUIBackend`` in two processes, merged beside a SuperDuper result and rendered."""

from __future__ import annotations

from bench.__main__ import merge
from bench.findings import findings
from bench.orchestrate import run_plans
from bench.plans import comfyui
from bench.profiles import MODES
from bench.report import render_markdown

N = 10


def test_tiny_comfyui_run_posts_every_job_and_renders_its_section() -> None:
    results = run_plans([comfyui([MODES["a"], MODES["b"]], [N])], say=lambda _: None)

    healthy, down = results["runs"]
    for run in (healthy, down):
        assert run["backend"] == "comfyui"
        throughput = run["throughput"]
        assert throughput["posted"] == N
        latency = throughput["latency_ms"]
        assert latency["count"] == N
        assert 0 < latency["p50"] <= latency["p95"] <= latency["p99"] <= latency["max"]
        assert throughput["requests"]["POST /prompt"] == N
        assert throughput["status_requests_per_job"] > 0
        assert throughput["http_requests_per_job"] > throughput["status_requests_per_job"]
        assert throughput["rss_peak_mib"] > 0 and throughput["cpu_ms_per_job"] > 0
    assert healthy["throughput"]["ws_connections"] == 1
    assert down["throughput"]["ws_connections"] == 0

    superduper = {  # a SuperDuper run as the results hold it: no ``backend``
        "profile": "fast",
        "mode": "a",
        "n": N,
        "tree": "new",
        "title": "hybrid, WebSocket healthy",
        "emulator": {"gen_time": [2.0, 4.0]},
        "throughput": healthy["throughput"],
    }
    old = {**results, "runs": [superduper], "profiles": {}}
    meta = {"command": "python -m bench run --backend comfyui"}
    merged = merge(old, {**results, "comfyui": meta})
    assert len(merged["runs"]) == 3 and merged["profiles"] == {}

    page = render_markdown(merged, findings)
    section = page[page.index("## Results: ComfyUI backend") :]
    assert "`step_time=0.005`" in section
    assert f"| {N} | ComfyUI | 1 | {N} |" in section
    assert f"| {N} | SuperDuper | 1 | {N} |" in section
    assert "### (b) hybrid, WebSocket unavailable (polling only)" in section
    assert f"At N = {N}: {N} and {N} of {N} posted" in section
