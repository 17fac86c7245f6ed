"""Fixtures: ComfyUI emulators on 127.0.0.1:0 and ComfyUI backends started against them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import pytest

from bot.backend.comfyui import ComfyUIBackend
from emulator.comfyui import ComfyEmulator
from tests.support.comfyui import MemoryValues, emulator_config, open_comfy_backend

StartComfy = Callable[..., Awaitable[ComfyEmulator]]
MakeBackend = Callable[..., Awaitable[ComfyUIBackend]]


@pytest.fixture
async def start_comfy() -> AsyncIterator[StartComfy]:
    """Start emulators with config overrides (fast steps by default); stop them after."""
    started: list[ComfyEmulator] = []

    async def start(**knobs: Any) -> ComfyEmulator:
        emu = ComfyEmulator(emulator_config(**knobs))
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
async def make_backend(comfy: ComfyEmulator) -> AsyncIterator[MakeBackend]:
    """``await make_backend(emulators=None, values=None, **settings)``: a started backend
    (on ``comfy`` unless told, its own RNG seed), closed at the end of the test."""
    seeds = itertools.count(1)
    async with AsyncExitStack() as stack:

        async def make(
            emulators: Sequence[ComfyEmulator] | None = None,
            values: MemoryValues | None = None,
            **overrides: Any,
        ) -> ComfyUIBackend:
            return await stack.enter_async_context(
                open_comfy_backend(emulators or [comfy], values, seed=next(seeds), **overrides)
            )

        yield make


@pytest.fixture
async def backend(make_backend: MakeBackend) -> ComfyUIBackend:
    return await make_backend()
