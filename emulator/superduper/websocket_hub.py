"""Open WebSocket connections, their project subscriptions and the fan-out of events."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any

from aiohttp import web

from emulator.socket_writer import SocketWriter
from emulator.superduper.counters import EmulatorCounters


class Connection(SocketWriter):
    """One accepted WebSocket and the projects it subscribed to."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        counters: EmulatorCounters,
    ) -> None:
        super().__init__(ws, transport, counters)
        self.projects: set[str] = set()

    def send(self, message: dict[str, Any]) -> None:
        self.send_frame(json.dumps(message))


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
