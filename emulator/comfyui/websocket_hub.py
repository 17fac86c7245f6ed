"""Open sockets by client id (one per id, the newest wins) and the send paths."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import Callable
from typing import Any

from aiohttp import web

from emulator.comfyui.counters import ComfyCounters
from emulator.socket_writer import SocketWriter


class Connection(SocketWriter):
    """One accepted WebSocket of client ``sid``."""

    def __init__(
        self,
        sid: str,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        counters: ComfyCounters,
    ) -> None:
        super().__init__(ws, transport, counters)
        self.sid = sid
        self.feature_flags: dict[str, Any] = {}

    def send(self, frame: str | bytes) -> None:
        self.send_frame(frame)


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
