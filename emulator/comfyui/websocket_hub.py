"""Open sockets by client id (one per id, the newest wins) and the send paths."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.comfyui.counters import ComfyCounters


class Connection:
    """One accepted WebSocket; frames go out in order through one writer task."""

    def __init__(
        self,
        sid: str,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        counters: ComfyCounters,
    ) -> None:
        self.sid = sid
        self.ws = ws
        self.feature_flags: dict[str, Any] = {}
        self._transport = transport
        self._counters = counters
        self._queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())
        self._closing: asyncio.Task[None] | None = None

    def send(self, frame: str | bytes) -> None:
        self._queue.put_nowait(frame)

    async def _write_loop(self) -> None:
        while True:
            frame = await self._queue.get()
            if self.ws.closed:
                return
            try:
                if isinstance(frame, bytes):
                    await self.ws.send_bytes(frame)
                else:
                    await self.ws.send_str(frame)
            except (ConnectionError, RuntimeError):
                return
            self._counters.ws_messages_sent += 1

    def start_close(self, code: int, reason: str) -> asyncio.Task[None]:
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason))
        return self._closing

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame (a crash or a network cut)."""
        if isinstance(self._transport, asyncio.WriteTransport):
            self._transport.abort()

    async def release(self) -> None:
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class SocketHub:
    """``sid → Connection``; ``sid=None`` sends to everyone, an unknown sid to no one."""

    def __init__(self, rng: random.Random, rates: Callable[[], tuple[float, float]]) -> None:
        self._rng = rng
        self._rates = rates
        """(drop rate, duplicate rate) now."""
        self.sockets: dict[str, Connection] = {}

    def add(self, conn: Connection) -> None:
        self.sockets[conn.sid] = conn

    def remove(self, conn: Connection) -> None:
        """As ComfyUI does, by sid: an old socket of a reused clientId closing late also
        unregisters the newer one."""
        self.sockets.pop(conn.sid, None)

    def send_json(self, event: str, data: Any, sid: str | None = None) -> None:
        self._send(json.dumps({"type": event, "data": data}), sid)

    def send_bytes(self, frame: bytes, sid: str | None = None) -> None:
        self._send(frame, sid)

    def _send(self, frame: str | bytes, sid: str | None) -> None:
        if sid is None:
            targets = list(self.sockets.values())
        else:
            conn = self.sockets.get(sid)
            targets = [conn] if conn is not None else []
        drop_rate, duplicate_rate = self._rates()
        for conn in targets:
            if drop_rate and self._rng.random() < drop_rate:
                continue
            conn.send(frame)
            if duplicate_rate and self._rng.random() < duplicate_rate:
                conn.send(frame)
