"""Open WebSocket connections, their project subscriptions and the fan-out of events."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
from typing import Any

from aiohttp import web

from emulator.superduper.counters import EmulatorCounters


class Connection:
    """One accepted WebSocket; messages go out through a queue drained by one writer task."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        counters: EmulatorCounters,
    ) -> None:
        self.ws = ws
        self.projects: set[str] = set()
        self._transport = transport
        self._counters = counters
        self._queue: asyncio.Queue[str] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())
        self._closing: asyncio.Task[None] | None = None

    def send(self, message: dict[str, Any]) -> None:
        self._queue.put_nowait(json.dumps(message))

    async def _write_loop(self) -> None:
        while True:
            text = await self._queue.get()
            if self.ws.closed:
                return
            try:
                await self.ws.send_str(text)
            except (ConnectionError, RuntimeError):
                return
            self._counters.ws_messages_sent += 1

    def start_close(self, code: int, reason: str) -> asyncio.Task[None]:
        """Close with a close frame (once); the returned task ends when the close is done."""
        if self._closing is None:
            self._closing = asyncio.create_task(self._close(code, reason))
        return self._closing

    async def _close(self, code: int, reason: str) -> None:
        with contextlib.suppress(ConnectionError, RuntimeError):
            await self.ws.close(code=code, message=reason.encode())

    def abort(self) -> None:
        """Drop the TCP connection without a close frame, like a network failure."""
        if isinstance(self._transport, asyncio.WriteTransport):
            self._transport.abort()

    async def release(self) -> None:
        """Stop the writer; called once the connection's handler is done."""
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer


class SubscriptionHub:
    """Which connection listens to which project; fans events out with drop/duplicate faults."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng
        self.connections: set[Connection] = set()
        self._subscribers: dict[str, set[Connection]] = {}

    def add(self, conn: Connection) -> None:
        self.connections.add(conn)

    def remove(self, conn: Connection) -> None:
        self.connections.discard(conn)
        for project_id in conn.projects:
            subscribers = self._subscribers.get(project_id)
            if subscribers is not None:
                subscribers.discard(conn)
                if not subscribers:
                    del self._subscribers[project_id]
        conn.projects.clear()

    def subscribe(self, conn: Connection, project_id: str) -> None:
        conn.projects.add(project_id)
        self._subscribers.setdefault(project_id, set()).add(conn)

    def unsubscribe(self, conn: Connection, project_id: str) -> None:
        conn.projects.discard(project_id)
        subscribers = self._subscribers.get(project_id)
        if subscribers is not None:
            subscribers.discard(conn)
            if not subscribers:
                del self._subscribers[project_id]

    def publish(
        self, project_id: str, event: dict[str, Any], *, drop_rate: float, duplicate_rate: float
    ) -> None:
        for conn in self._subscribers.get(project_id, ()):
            if drop_rate and self._rng.random() < drop_rate:
                continue
            conn.send(event)
            if duplicate_rate and self._rng.random() < duplicate_rate:
                conn.send(event)

    def forget_all(self) -> list[Connection]:
        """Drop every subscription; return the connections that were open."""
        connections = list(self.connections)
        for conn in connections:
            conn.projects.clear()
        self._subscribers.clear()
        return connections
