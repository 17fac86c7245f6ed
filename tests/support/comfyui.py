"""Real ComfyUI backends for tests: started against emulators on loopback, fast timings.

``open_comfy_backend(emulators, values)`` is what the core's end-to-end tests use to run
against ComfyUI; ``MemoryValues`` is a tiny in-memory ``ValueStore`` (a ``SqliteJobStore``
works too)."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from types import MappingProxyType
from typing import Any, Final

import httpx

from bot.backend.comfyui import ComfyUISettings
from bot.backend.comfyui.backend import ComfyUIBackend
from bot.backend.comfyui.handles import Submission
from bot.backend.http import shared_http_client
from bot.store import ValueStore
from emulator.comfyui import ComfyEmulator, ComfyEmulatorConfig

CHECKPOINT: Final = "emulator-sd15.safetensors"
"""The checkpoint every emulator has by default."""

FAST_EMULATOR: Final[Mapping[str, Any]] = MappingProxyType({"step_time": 0.002})

FAST: Final[Mapping[str, Any]] = MappingProxyType(
    {
        "request_timeout": 5.0,
        "connect_timeout": 2.0,
        "retry_attempts": 3,
        "retry_base": 0.01,
        "retry_cap": 0.05,
        "retry_after_cap": 1.0,
        "expected_generation_time": 0.05,
        "poll_interval_min": 0.02,
        "poll_interval_cap": 0.2,
        "safety_net_poll": 0.5,
        "reconcile_spread": 0.05,
        "reconnect_floor": 0.05,
        "reconnect_cap": 0.2,
        "healthy_after": 0.5,
        "auth_refused_retry": 60.0,
        "ws_open_timeout": 2.0,
        "ws_close_timeout": 0.5,
        "ping_interval": 1.0,
        "ping_timeout": 1.0,
        "plan_hold": 5.0,
        "default_wait_timeout": 10.0,
    }
)


class MemoryValues:
    """A ``ValueStore`` in a dict (one per test: share it to play a restart)."""

    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get_value(self, name: str) -> str | None:
        return self.values.get(name)

    async def set_value(self, name: str, value: str) -> None:
        self.values[name] = value


def emulator_config(**knobs: Any) -> ComfyEmulatorConfig:
    return ComfyEmulatorConfig(**{**FAST_EMULATOR, **knobs})


def fast_settings(emulators: Sequence[ComfyEmulator], **overrides: Any) -> ComfyUISettings:
    values = {"checkpoint": CHECKPOINT, **FAST, **overrides}
    return ComfyUISettings(urls=tuple(e.base_url for e in emulators), **values)


@asynccontextmanager
async def open_comfy_backend(
    emulators: Sequence[ComfyEmulator],
    values: ValueStore | None = None,
    *,
    seed: int = 7,
    http: httpx.AsyncClient | None = None,
    **overrides: Any,
) -> AsyncIterator[ComfyUIBackend]:
    """A started ``ComfyUIBackend`` on ``emulators``, closed after. Without ``http`` it gets
    (and closes) its own client; ``seed`` seeds its RNG (and so its new client id)."""
    settings = fast_settings(emulators, **overrides)
    async with AsyncExitStack() as stack:
        if http is None:
            http = await stack.enter_async_context(
                shared_http_client(
                    request_timeout=settings.request_timeout,
                    connect_timeout=settings.connect_timeout,
                )
            )
        backend = ComfyUIBackend(
            settings,
            http,
            values=values if values is not None else MemoryValues(),
            rng=random.Random(seed),
        )
        stack.push_async_callback(backend.aclose)
        await backend.start()
        yield backend


def prompt_id_of(submission: str) -> str:
    """The ComfyUI ``prompt_id`` in a ticket or handle."""
    return Submission.from_json(submission).prompt_id


def host_of(submission: str) -> str:
    """The base URL of the host a ticket or handle is pinned to."""
    return Submission.from_json(submission).host
