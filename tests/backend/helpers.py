"""Helpers for the backend tests: fast settings, a recording sleep, deadline-bounded waits."""

from __future__ import annotations

import asyncio
import io
import struct
import zlib
from collections.abc import Callable
from typing import Any

from PIL import Image

from bot.backend.superduper import SuperDuperSettings
from bot.backend.types import GenerationRequest
from emulator.superduper import Emulator
from tests.support.waiting import until

TOKEN = "s3cr3t-t0ken-for-tests"
DEADLINE = 10.0

FILE_ROUTE = "GET /api/files/{id}"
GENERATE_ROUTE = "POST /api/generation/image"
PROJECTS_ROUTE = "POST /api/projects"
MEDIA_ROUTE = "GET /media/{name}"
WS_ROUTE = "GET /ws"

FAST: dict[str, Any] = {
    "request_timeout": 5.0,
    "connect_timeout": 2.0,
    "retry_attempts": 4,
    "retry_base": 0.01,
    "retry_cap": 0.05,
    "retry_after_cap": 5.0,
    "expected_generation_time": 0.05,
    "poll_interval_min": 0.02,
    "poll_interval_cap": 0.2,
    "safety_net_poll": 0.3,
    "reconcile_spread": 0.05,
    "reconnect_floor": 0.05,
    "reconnect_cap": 0.2,
    "healthy_after": 1.0,
    "auth_refused_retry": 60.0,
    "ws_open_timeout": 2.0,
    "ws_close_timeout": 0.5,
    "ping_interval": 1.0,
    "ping_timeout": 1.0,
    "default_wait_timeout": 10.0,
}


def fast_settings(emu: Emulator, **overrides: Any) -> SuperDuperSettings:
    values = {**FAST, **overrides}
    return SuperDuperSettings(base_url=emu.base_url, token=TOKEN, **values)


def request(prompt: str = "a lighthouse at dusk", **fields: Any) -> GenerationRequest:
    values: dict[str, Any] = {"seed": 42, "width": 256, "height": 256, **fields}
    return GenerationRequest(prompt=prompt, **values)


class RecordingSleep:
    """Records every pause and returns at once; ``on_sleep`` may change the world.

    ``real=True`` also waits each delay out, for loops that must not spin while the test
    looks on (a WebSocket's reconnects): the test asserts the delays, never the time."""

    def __init__(
        self, on_sleep: Callable[[int], None] | None = None, *, real: bool = False
    ) -> None:
        self.delays: list[float] = []
        self._on_sleep = on_sleep
        self._real = real

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        if self._on_sleep is not None:
            self._on_sleep(len(self.delays))
        await asyncio.sleep(delay if self._real else 0)


eventually = until  # the project-wide deadline-bounded poll


def png_bytes(width: int, height: int, color: str = "teal") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "orange").save(buffer, format="JPEG")
    return buffer.getvalue()


def png_claiming(width: int, height: int) -> bytes:
    """A tiny, well-formed PNG header whose IHDR claims ``width`` x ``height`` pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
