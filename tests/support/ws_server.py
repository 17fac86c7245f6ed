"""A WebSocket server on 127.0.0.1:0 that a test scripts: it records what clients send and
sends whatever the test says, junk included."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from types import TracebackType
from typing import Self

from websockets.asyncio.server import Server, ServerConnection, serve


class ScriptedSocketServer:
    """``async with ScriptedSocketServer() as server``: ``server.url`` to connect to,
    ``server.connections`` accepted so far, ``server.received`` text/bytes from clients,
    ``await server.send(message)`` to the newest connection."""

    def __init__(self) -> None:
        self.connections = 0
        self.received: list[str | bytes] = []
        self._current: ServerConnection | None = None
        self._changed = asyncio.Condition()
        self._server: Server | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "not started"
        port = next(iter(self._server.sockets)).getsockname()[1]
        return f"ws://127.0.0.1:{port}/ws"

    async def __aenter__(self) -> Self:
        self._server = await serve(self._handle, "127.0.0.1", 0, close_timeout=0.2)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def send(self, message: str | bytes) -> None:
        assert self._current is not None, "no client connected"
        await self._current.send(message)

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds after some client activity (or fail)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _handle(self, ws: ServerConnection) -> None:
        self.connections += 1
        self._current = ws
        await self._notify()
        async for message in ws:
            self.received.append(message)
            await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
