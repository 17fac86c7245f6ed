"""Fixtures: ComfyUI emulators on 127.0.0.1:0 and ComfyUI backends started against them."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from typing import Any

import pytest

from bot.backend.comfyui import ComfyUIBackend
from bot.store import ValueStore
from emulator.comfyui import ComfyEmulator
from tests.emulator.comfyui.conftest import StartComfy, comfy, start_comfy
from tests.support.comfyui import open_comfy_backend

__all__ = ["MakeBackend", "StartComfy", "comfy", "start_comfy"]
"""``start_comfy`` (emulators with config overrides, fast steps) and ``comfy`` (one of them)
are the emulator tests' own fixtures."""

MakeBackend = Callable[..., Awaitable[ComfyUIBackend]]


@pytest.fixture
async def make_backend(comfy: ComfyEmulator) -> AsyncIterator[MakeBackend]:
    """``await make_backend(emulators=None, values=None, **settings)``: a started backend
    (on ``comfy`` unless told, its own RNG seed), closed at the end of the test."""
    seeds = itertools.count(1)
    async with AsyncExitStack() as stack:

        async def make(
            emulators: Sequence[ComfyEmulator] | None = None,
            values: ValueStore | None = None,
            **overrides: Any,
        ) -> ComfyUIBackend:
            return await stack.enter_async_context(
                open_comfy_backend(emulators or [comfy], values, seed=next(seeds), **overrides)
            )

        yield make


@pytest.fixture
async def backend(make_backend: MakeBackend) -> ComfyUIBackend:
    return await make_backend()
