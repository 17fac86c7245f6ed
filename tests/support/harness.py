"""Real wiring for tests: an image service's emulator over loopback, its real backend, a
real SQLite file, and the real core. Only the chat platform is a recording fake (or an
adapter under test).

``open_harness`` takes a ``ServiceDriver`` (``tests/support/drivers.py``: SuperDuper or
ComfyUI) or, as the tests outside ``tests/core`` do, a SuperDuper ``Emulator``."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar, overload

from bot.backend.protocol import ImageBackend
from bot.backend.retry import Sleep, WallClock
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings
from bot.chat import ChatPort, Conversation, Invocation, Requester
from bot.clock import Clock
from bot.config import BotConfig
from bot.service import ImagineBot
from bot.store import JobStore
from bot.telemetry import Telemetry
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.support.drivers import ServiceDriver, SuperDuperDriver
from tests.support.superduper import TOKEN, emulator_config, fast_service

__all__ = [
    "TOKEN",
    "AnyHarness",
    "BackendWrapper",
    "BotHarness",
    "Harness",
    "StoreWrapper",
    "emulator_config",
    "fast_bot_config",
    "fast_service",
    "invocation",
    "open_harness",
]

B = TypeVar("B", bound=ImageBackend)


def fast_bot_config(**overrides: object) -> BotConfig:
    knobs: dict[str, object] = dict(
        progress_interval=0.0, delivery_retry_delay=0.01, store_retry_delay=0.01
    )
    knobs.update(overrides)
    return BotConfig(**knobs)  # type: ignore[arg-type]


StoreWrapper = Callable[[SqliteJobStore], JobStore]
BackendWrapper = Callable[[ImageBackend], ImageBackend]


@dataclass
class BotHarness(Generic[B]):
    bot: ImagineBot
    store: SqliteJobStore
    backend: B
    """The real backend (the bot may see it through a ``wrap_backend`` double)."""
    service: ServiceDriver[B]

    async def image_bytes(self, url: str) -> bytes:
        """What the service serves at a result URL (fetched directly, for comparisons)."""
        return await self.service.served(url)


Harness = BotHarness[SuperDuperBackend]
"""The bot on SuperDuper, as ``open_harness(emulator, ...)`` gives it."""
AnyHarness = BotHarness[ImageBackend]
"""The bot on whichever service a driver stands for (the core's shared tests)."""


def invocation(
    text: str,
    *,
    platform: str = "test",
    user: str = "U1",
    channel: str = "C1",
    thread: str | None = None,
    workspace: str = "W1",
    is_admin: bool = False,
    roles: frozenset[str] = frozenset(),
    options: dict[str, str | int] | None = None,
) -> Invocation:
    return Invocation(
        conversation=Conversation(platform, workspace, channel, thread),
        requester=Requester(user, f"user {user}", roles=roles, is_admin=is_admin),
        text=text,
        options=options or {},
    )


@overload
def open_harness(
    driver: Emulator,
    db_path: Path,
    chats: Sequence[ChatPort],
    *,
    config: BotConfig | None = None,
    service: SuperDuperSettings | None = None,
    start: bool = True,
    wrap_store: StoreWrapper | None = None,
    wrap_backend: BackendWrapper | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
    sleep: Sleep | None = None,
    wall_clock: WallClock | None = None,
    reconnect_sleep: Sleep | None = None,
) -> AbstractAsyncContextManager[Harness]: ...


@overload
def open_harness(
    driver: ServiceDriver[B],
    db_path: Path,
    chats: Sequence[ChatPort],
    *,
    config: BotConfig | None = None,
    service: SuperDuperSettings | None = None,
    start: bool = True,
    wrap_store: StoreWrapper | None = None,
    wrap_backend: BackendWrapper | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
    sleep: Sleep | None = None,
    wall_clock: WallClock | None = None,
    reconnect_sleep: Sleep | None = None,
) -> AbstractAsyncContextManager[BotHarness[B]]: ...


def open_harness(
    driver: ServiceDriver[Any] | Emulator,
    db_path: Path,
    chats: Sequence[ChatPort],
    *,
    config: BotConfig | None = None,
    service: SuperDuperSettings | None = None,
    start: bool = True,
    wrap_store: StoreWrapper | None = None,
    wrap_backend: BackendWrapper | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
    sleep: Sleep | None = None,
    wall_clock: WallClock | None = None,
    reconnect_sleep: Sleep | None = None,
) -> AbstractAsyncContextManager[BotHarness[Any]]:
    """The bot on ``driver``'s service. ``store`` in the harness is always the real one;
    ``wrap_store`` puts a test double (e.g. ``FaultyStore``) between it and the bot,
    ``wrap_backend`` one between the bot and the backend (e.g. ``FewerCapabilities``).

    For a SuperDuper ``Emulator``: ``service`` is the client's settings (fast ones when
    None); ``sleep`` (the backend's pause between HTTP retries), ``wall_clock`` (for
    ``Retry-After`` dates) and ``reconnect_sleep`` (its WebSocket's pause between attempts)
    go to the backend, e.g. to record the waits. A driver brings its own."""
    if isinstance(driver, Emulator):
        driver = SuperDuperDriver(
            driver, service, sleep=sleep, wall_clock=wall_clock, reconnect_sleep=reconnect_sleep
        )
    elif any(knob is not None for knob in (service, sleep, wall_clock, reconnect_sleep)):
        raise TypeError("service=, sleep=, wall_clock= and reconnect_sleep= go with an Emulator")
    return _harness(
        driver, db_path, chats, config, start, wrap_store, wrap_backend, clock, telemetry
    )


@asynccontextmanager
async def _harness(
    driver: ServiceDriver[B],
    db_path: Path,
    chats: Sequence[ChatPort],
    config: BotConfig | None,
    start: bool,
    wrap_store: StoreWrapper | None,
    wrap_backend: BackendWrapper | None,
    clock: Clock | None,
    telemetry: Telemetry | None,
) -> AsyncIterator[BotHarness[B]]:
    store = await SqliteJobStore.open(db_path)
    try:
        async with driver.open_backend(store) as backend:
            seen = wrap_backend(backend) if wrap_backend is not None else backend
            bot = ImagineBot(
                store=wrap_store(store) if wrap_store is not None else store,
                backends={seen.name: seen},
                config=config or fast_bot_config(),
                clock=clock,
                telemetry=telemetry,
            )
            for chat in chats:
                bot.add_chat(chat)
            try:
                if start:
                    await bot.start()
                yield BotHarness(bot, store, backend, driver)
            finally:
                await bot.aclose()
    finally:
        await store.aclose()
