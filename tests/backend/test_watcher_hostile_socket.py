"""The watcher against a hand-written WebSocket server: junk events and a half-open peer.

HTTP still goes to the emulator (the source of truth); only ``ws_url`` points here."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from websockets.asyncio.server import ServerConnection, serve

from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator

from .conftest import MakeBackend
from .helpers import FILE_ROUTE, eventually, request

Handler = Callable[[ServerConnection], Awaitable[None]]


@asynccontextmanager
async def socket_server(handler: Handler) -> AsyncIterator[tuple[str, list[int]]]:
    """Serve ``handler`` on 127.0.0.1:0; yield its URL and a one-item connection counter."""
    connections = [0]
    release = asyncio.Event()

    async def counted(ws: ServerConnection) -> None:
        connections[0] += 1
        try:
            await handler(ws)
            await release.wait()
        finally:
            ws.transport.abort()

    async with serve(counted, "127.0.0.1", 0, close_timeout=0.1) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        try:
            yield f"ws://127.0.0.1:{port}/ws", connections
        finally:
            release.set()


async def test_junk_unknown_and_foreign_events_are_ignored(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    emu.config.manual_completion = True
    target: dict[str, str] = {}

    async def handler(ws: ServerConnection) -> None:
        subscribe = json.loads(await ws.recv())
        assert subscribe == {"type": "subscribe", "project_id": target["project"]}
        fid, pid = target["file"], target["project"]
        for junk in (
            "not json",
            b"\xff\xfe binary",
            "[1, 2, 3]",
            '{"type": ["generation.completed"], "file_id": "x"}',
            json.dumps({"type": "generation.completed", "file_id": "unknown", "project_id": pid}),
            json.dumps(
                {
                    "type": "generation.progress",
                    "file_id": fid,
                    "project_id": "other",
                    "progress": 90,
                }
            ),
            json.dumps(  # Python's json writes (and reads) the non-standard NaN token
                {
                    "type": "generation.progress",
                    "file_id": fid,
                    "project_id": pid,
                    "progress": float("nan"),
                }
            ),
            json.dumps(
                {"type": "generation.progress", "file_id": fid, "project_id": pid, "progress": True}
            ),
            json.dumps(
                {
                    "type": "generation.progress",
                    "file_id": fid,
                    "project_id": pid,
                    "progress": 1e308,
                }
            ),
            json.dumps(
                {"type": "generation.progress", "file_id": fid, "project_id": pid, "progress": 30}
            ),
            json.dumps(
                {
                    "type": "generation.completed",
                    "file_id": fid,
                    "project_id": pid,
                    "progress": None,
                    "url": "http://evil.example/x.png",
                }
            ),
        ):
            await ws.send(junk)

    async with socket_server(handler) as (url, connections):
        backend = await make_backend(
            ws_url=url, expected_generation_time=30.0, safety_net_poll=30.0
        )
        project_id = await backend.create_project(title="t", idempotency_key="k")
        [file] = await backend.submit(request(), project_id=project_id)
        target.update(file=file.id, project=project_id)
        await emu.finish(file.id)
        seen: list[int] = []

        async def on_progress(percent: int) -> None:
            seen.append(percent)

        result = await backend.wait(file.id, project_id, timeout=5, on_progress=on_progress)

        assert result.outcome is WaitOutcome.COMPLETED
        assert result.file is not None and result.file.url is not None
        assert result.file.url.startswith(emu.base_url)  # the URL comes from HTTP, not the event
        assert emu.counters.requests[FILE_ROUTE] == 1
        assert 90 not in seen and seen == sorted(seen) and seen[-1] == 100
        assert connections[0] == 1


async def test_a_half_open_socket_is_detected_by_keepalive_and_replaced(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    async def goes_silent(ws: ServerConnection) -> None:
        ws.transport.pause_reading()  # never answers pings again

    async with socket_server(goes_silent) as (url, connections):
        backend = await make_backend(
            ws_url=url, ping_interval=0.1, ping_timeout=0.1, ws_close_timeout=0.1
        )
        emu.config.manual_completion = True
        project_id = await backend.create_project(title="t", idempotency_key="k")
        [file] = await backend.submit(request(), project_id=project_id)
        waiting = asyncio.create_task(backend.wait(file.id, project_id, timeout=5))

        await eventually(lambda: connections[0] >= 2, timeout=4)
        await emu.finish(file.id)
        result = await waiting
        assert result.outcome is WaitOutcome.COMPLETED  # polling covered the silent socket
