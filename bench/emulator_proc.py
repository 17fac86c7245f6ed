"""The emulator in its own process, plus a small control server for the benchmark.

``python -m bench.emulator_proc '<json knobs>'`` prints one JSON line
``{"base_url": ..., "control_url": ..., "token": ...}`` and serves until stdin closes or
SIGTERM. The control server (another port, so its requests are not counted) offers:

* ``GET /stats``: the emulator's counters and ``completed_at`` (file id → monotonic time);
* ``POST /config``: set emulator knobs at runtime (``{"manual_completion": true}``);
* ``POST /finish``: complete the files listed in ``{"file_ids": [...]}`` now.

Results are a fixed pre-rendered PNG (``image_override``), so the run measures the watcher
and the core, not PNG encoding in the emulator."""

from __future__ import annotations

import asyncio
import contextlib
import json
import signal
import sys
from typing import Any

from aiohttp import web

from emulator.render import ImageSpec, render_png
from emulator.superduper import Emulator, EmulatorConfig

TOKEN = "bench-token-0123456789"  # noqa: S105 - a loopback emulator's token
SETTABLE = frozenset(
    {"manual_completion", "ws_available", "ws_drop_rate", "gen_time", "response_delay"}
)


def result_png(side: int) -> bytes:
    return render_png(ImageSpec("benchmark", 1, 0, side, side))


def stats_of(emulator: Emulator) -> dict[str, Any]:
    counters = emulator.counters
    return {
        "requests": dict(counters.requests),
        "ws_connections": counters.ws_connections,
        "ws_open": counters.ws_open,
        "ws_messages_sent": counters.ws_messages_sent,
        "completed_at": dict(emulator.completed_at),
    }


def control_app(emulator: Emulator) -> web.Application:
    async def stats(request: web.Request) -> web.Response:
        stats = stats_of(emulator)
        if request.query.get("completed") == "0":
            del stats["completed_at"]
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
        for file_id in body["file_ids"]:
            await emulator.finish(file_id)
        return web.json_response({"finished": len(body["file_ids"])})

    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_get("/stats", stats)
    app.router.add_post("/config", configure)
    app.router.add_post("/finish", finish)
    return app


async def serve(knobs: dict[str, Any], image_side: int) -> None:
    if "gen_time" in knobs:
        knobs["gen_time"] = tuple(knobs["gen_time"])
    config = EmulatorConfig(token=TOKEN, image_override=result_png(image_side), **knobs)
    emulator = Emulator(config)
    await emulator.start()
    runner = web.AppRunner(control_app(emulator), handle_signals=False, access_log=None)
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
    ready = {
        "base_url": emulator.base_url,
        "control_url": f"http://127.0.0.1:{control_port}",
        "token": TOKEN,
    }
    print(json.dumps(ready), flush=True)
    try:
        await stop.wait()
    finally:
        watch_stdin.cancel()
        await runner.cleanup()
        await emulator.stop()


def main(argv: list[str]) -> int:
    knobs = json.loads(argv[0]) if argv else {}
    image_side = int(knobs.pop("image_side", 256))
    asyncio.run(serve(knobs, image_side))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
