"""Fixtures: a real emulator on 127.0.0.1:0 and backends wired to it with fast timings."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from bot.backend.superduper import SuperDuperBackend, make_http_client
from emulator.superduper import Emulator, EmulatorConfig
from tests.support.superduper import FileApi

from .helpers import TOKEN, fast_settings

MakeBackend = Callable[..., Awaitable[FileApi]]


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator(EmulatorConfig(token=TOKEN, gen_time=(0.05, 0.1)))
    await emulator.start(host="127.0.0.1", port=0)
    yield emulator
    await emulator.stop()


@pytest.fixture
async def make_backend(emu: Emulator) -> AsyncIterator[MakeBackend]:
    """Build started backends on ``emu``: ``await make_backend(sleep=..., **settings)``
    (``sleep`` between HTTP retries, ``reconnect_sleep`` between WebSocket attempts)."""
    opened: list[tuple[SuperDuperBackend, httpx.AsyncClient]] = []

    async def make(
        *,
        sleep: Callable[[float], Awaitable[None]] | None = None,
        wall_clock: Callable[[], float] | None = None,
        reconnect_sleep: Callable[[float], Awaitable[None]] | None = None,
        **overrides: Any,
    ) -> FileApi:
        settings = fast_settings(emu, **overrides)
        http = make_http_client(settings)
        backend = SuperDuperBackend(
            settings,
            http,
            rng=random.Random(7),
            sleep=sleep,
            wall_clock=wall_clock,
            reconnect_sleep=reconnect_sleep,
        )
        opened.append((backend, http))
        await backend.start()
        return FileApi(backend)

    yield make
    for backend, http in opened:
        await backend.aclose()
        await http.aclose()


@pytest.fixture
async def backend(make_backend: MakeBackend) -> FileApi:
    return await make_backend()
