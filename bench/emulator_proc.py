"""The emulator in its own process, plus a small control server for the benchmark.

``python -m bench.emulator_proc '<json knobs>'`` prints one JSON line
``{"base_url": ..., "control_url": ..., "token": ...}`` and serves until stdin closes or
SIGTERM. The control server (another port, so its requests are not counted) offers:

* ``GET /stats``: the emulator's counters and ``completed_at`` (file id → monotonic time);
* ``POST /config``: set emulator knobs at runtime (``{"manual_completion": true}``);
* ``POST /finish``: complete the files listed in ``{"file_ids": [...]}`` now.

``GET /stats`` also carries ``timeline``: every ``SAMPLE_EVERY`` seconds, the monotonic time
and the running totals of status requests and of all HTTP requests, from which the report
reads peak requests per second. The ``ws_flap_every`` knob (a bench knob, not the
emulator's) cuts every open WebSocket that often for the whole run (mode (e)). The
``service`` knob (a bench knob too) picks the emulator: ``superduper`` (the default) or
``comfyui`` (``ComfyEmulatorConfig`` knobs then; ``GET /history/{prompt_id}`` and
``GET /queue`` are its status requests, listed in ``/stats`` as ``status_routes``).

Results are a fixed pre-rendered PNG (``image_override``), so the run measures the watcher
and the core, not PNG encoding in the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
import time
from typing import Any

from aiohttp import web

from bench.procstat import cpu_seconds
from bench.stats import STATUS_ROUTES, WS_ROUTES, status_count
from emulator.comfyui import ComfyEmulator, ComfyEmulatorConfig
from emulator.render import ImageSpec, render_png
from emulator.superduper import Emulator, EmulatorConfig

TOKEN = "bench-token-0123456789"  # noqa: S105 - a loopback emulator's token
SETTABLE = frozenset(
    {"manual_completion", "ws_available", "ws_drop_rate", "gen_time", "response_delay"}
)
SAMPLE_EVERY = 0.2
AnyEmulator = Emulator | ComfyEmulator


def result_png(side: int) -> bytes:
    return render_png(ImageSpec("benchmark", 1, 0, side, side))


def status_routes(emulator: AnyEmulator) -> tuple[str, ...]:
    return STATUS_ROUTES["comfyui" if isinstance(emulator, ComfyEmulator) else "superduper"]


def stats_of(emulator: AnyEmulator, timeline: list[tuple[float, int, int]]) -> dict[str, Any]:
    counters = emulator.counters
    return {
        "status_routes": list(status_routes(emulator)),
        "requests": dict(counters.requests),
        "ws_connections": counters.ws_connections,
        "ws_open": counters.ws_open,
        "ws_messages_sent": counters.ws_messages_sent,
        "completed_at": dict(emulator.completed_at),
        "timeline": [*timeline, request_totals(emulator)],
        "cpu_s": cpu_seconds(),
    }


def request_totals(emulator: AnyEmulator) -> tuple[float, int, int]:
    """Now, status requests so far, HTTP requests so far (WebSocket handshakes excluded)."""
    requests = emulator.counters.requests
    http = sum(count for route, count in requests.items() if route not in WS_ROUTES)
    return (time.monotonic(), status_count(requests, status_routes(emulator)), http)


async def sample_requests(emulator: AnyEmulator, timeline: list[tuple[float, int, int]]) -> None:
    while True:
        timeline.append(request_totals(emulator))
        await asyncio.sleep(SAMPLE_EVERY)


async def flap_websockets(emulator: Emulator, every: float) -> None:
    while True:
        await asyncio.sleep(every)
        await emulator.drop_websockets()


def control_app(emulator: AnyEmulator, timeline: list[tuple[float, int, int]]) -> web.Application:
    async def stats(request: web.Request) -> web.Response:
        stats = stats_of(emulator, timeline)
        if request.query.get("completed") == "0":
            del stats["completed_at"]
            del stats["timeline"]
        return web.json_response(stats)

    async def configure(request: web.Request) -> web.Response:
        knobs = await request.json()
        unknown = set(knobs) - SETTABLE
        if unknown:
            return web.json_response({"unknown": sorted(unknown)}, status=400)
        for name, value in knobs.items():
            setattr(emulator.config, name, tuple(value) if name == "gen_time" else value)
        return web.json_response({"ok": True})

    async def finish(request: web.Request) -> web.Response:
        body = await request.json()
        if not isinstance(emulator, Emulator):
            return web.json_response({"unsupported": "finish"}, status=400)
        for file_id in body["file_ids"]:
            await emulator.finish(file_id)
        return web.json_response({"finished": len(body["file_ids"])})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/stats", stats)
    app.router.add_post("/config", configure)
    app.router.add_post("/finish", finish)
    return app


def make_emulator(service: str, knobs: dict[str, Any], image_side: int) -> AnyEmulator:
    if service == "comfyui":
        return ComfyEmulator(ComfyEmulatorConfig(**knobs))
    if "gen_time" in knobs:
        knobs["gen_time"] = tuple(knobs["gen_time"])
    return Emulator(EmulatorConfig(token=TOKEN, image_override=result_png(image_side), **knobs))


async def serve(
    service: str, knobs: dict[str, Any], image_side: int, flap_every: float | None
) -> None:
    emulator = make_emulator(service, knobs, image_side)
    await emulator.start()
    timeline: list[tuple[float, int, int]] = []
    background = [asyncio.create_task(sample_requests(emulator, timeline))]
    if flap_every is not None and isinstance(emulator, Emulator):
        background.append(asyncio.create_task(flap_websockets(emulator, flap_every)))
    runner = web.AppRunner(control_app(emulator, timeline), handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    control_port = int(runner.addresses[0][1])
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    # stdin closing (the parent is done, or died) ends the process too.
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    watch_stdin = asyncio.create_task(reader.read())
    watch_stdin.add_done_callback(lambda _: stop.set())
    ready = {"base_url": emulator.base_url, "control_url": f"http://127.0.0.1:{control_port}"}
    if isinstance(emulator, ComfyEmulator):
        ready["checkpoint"] = emulator.config.checkpoints[0]
    else:
        ready["token"] = TOKEN
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        watch_stdin.cancel()
        for task in background:
            task.cancel()
        await runner.cleanup()
        await emulator.stop()


def main(argv: list[str]) -> int:
    knobs = json.loads(argv[0]) if argv else {}
    image_side = int(knobs.pop("image_side", 256))
    flap_every = knobs.pop("ws_flap_every", None)
    service = str(knobs.pop("service", "superduper"))
    flap = float(flap_every) if flap_every is not None else None
    asyncio.run(serve(service, knobs, image_side, flap))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
