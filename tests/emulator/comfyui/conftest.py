"""Fixtures for the ComfyUI emulator's tests: real servers on 127.0.0.1:0, plain clients."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest

from emulator.comfyui import ComfyEmulator, ComfyEmulatorConfig

from .probe import Probe

StartComfy = Callable[..., Awaitable[ComfyEmulator]]


@pytest.fixture
async def start_comfy() -> AsyncIterator[StartComfy]:
    """Start emulators with config overrides (fast steps by default); stop them after."""
    started: list[ComfyEmulator] = []

    async def start(**overrides: Any) -> ComfyEmulator:
        settings: dict[str, Any] = {"step_time": 0.002}
        settings.update(overrides)
        emu = ComfyEmulator(ComfyEmulatorConfig(**settings))
        await emu.start()
        started.append(emu)
        return emu

    yield start
    for emu in started:
        await emu.stop()


@pytest.fixture
async def comfy(start_comfy: StartComfy) -> ComfyEmulator:
    return await start_comfy()


@pytest.fixture
async def probe(comfy: ComfyEmulator) -> AsyncIterator[Probe]:
    async with httpx.AsyncClient(base_url=comfy.base_url, trust_env=False, timeout=10) as http:
        yield Probe(comfy.base_url, http)
