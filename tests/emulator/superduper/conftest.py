"""Fixtures for the emulator's tests: real servers on 127.0.0.1:0 and plain clients."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from emulator.superduper import Emulator, EmulatorConfig

from .helpers import TOKEN, StartEmulator, http_client


@pytest.fixture
async def start_emulator() -> AsyncIterator[StartEmulator]:
    """Start emulators with config overrides (fast generation by default); stop them after."""
    started: list[Emulator] = []

    async def start(**overrides: Any) -> Emulator:
        settings: dict[str, Any] = {"token": TOKEN, "gen_time": (0.05, 0.1)}
        settings.update(overrides)
        emu = Emulator(EmulatorConfig(**settings))
        await emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


@pytest.fixture
async def emu(start_emulator: StartEmulator) -> Emulator:
    return await start_emulator()


@pytest.fixture
async def manual_emu(start_emulator: StartEmulator) -> Emulator:
    return await start_emulator(manual_completion=True)


@pytest.fixture
async def http(emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(emu) as client:
        yield client


@pytest.fixture
async def manual_http(manual_emu: Emulator) -> AsyncIterator[httpx.AsyncClient]:
    async with http_client(manual_emu) as client:
        yield client
