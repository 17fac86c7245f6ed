"""One accepted WebSocket of an emulator: frames go out in order through one writer task."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Protocol

from aiohttp import web


class SentCounter(Protocol):
    ws_messages_sent: int


class SocketWriter:
    """The send, close and abort paths both emulators' connections share."""

    def __init__(
        self,
        ws: web.WebSocketResponse,
        transport: asyncio.BaseTransport | None,
        counters: SentCounter,
    ) -> None:
        self.ws = ws
        self._transport = transport
        self._counters = counters
        self._queue: asyncio.Queue[str | bytes] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_loop())
        self._closing: asyncio.Task[None] | None = None

    def send_frame(self, frame: str | bytes) -> None:
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
        """Close with a close frame (once); the returned task ends when the close is done."""
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
        """Stop the writer; called once the connection's handler is done."""
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
