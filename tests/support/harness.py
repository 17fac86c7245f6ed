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
from typing import Any, Final, Generic, TypedDict, TypeVar, Unpack, overload

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
    "BotOptions",
    "Harness",
    "StoreWrapper",
    "SuperDuperOptions",
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


class BotOptions(TypedDict, total=False):
    """How a harness makes its bot (each optional): ``config`` (fast timings when None),
    ``start`` (resume before yielding; True), ``wrap_store`` (a double such as
    ``FaultyStore`` between the real store and the bot), ``wrap_backend`` (one such as
    ``FewerCapabilities`` between the bot and the backend), ``clock``, ``telemetry``."""

    config: BotConfig | None
    start: bool
    wrap_store: StoreWrapper | None
    wrap_backend: BackendWrapper | None
    clock: Clock | None
    telemetry: Telemetry | None


class SuperDuperOptions(BotOptions, total=False):
    """With a SuperDuper ``Emulator`` also: ``service`` (the client's settings; fast ones
    when None), and ``sleep`` (the pause between HTTP retries), ``wall_clock`` (for
    ``Retry-After`` dates) and ``reconnect_sleep`` (its WebSocket's pause between attempts)
    for the backend, e.g. to record the waits. A driver brings its own."""

    service: SuperDuperSettings | None
    sleep: Sleep | None
    wall_clock: WallClock | None
    reconnect_sleep: Sleep | None


_SUPERDUPER_ONLY: Final = frozenset(SuperDuperOptions.__annotations__) - frozenset(
    BotOptions.__annotations__
)


@overload
def open_harness(
    driver: Emulator, db_path: Path, chats: Sequence[ChatPort], **options: Unpack[SuperDuperOptions]
) -> AbstractAsyncContextManager[Harness]: ...


@overload
def open_harness(
    driver: ServiceDriver[B],
    db_path: Path,
    chats: Sequence[ChatPort],
    **options: Unpack[BotOptions],
) -> AbstractAsyncContextManager[BotHarness[B]]: ...


def open_harness(
    driver: ServiceDriver[Any] | Emulator,
    db_path: Path,
    chats: Sequence[ChatPort],
    **options: Unpack[SuperDuperOptions],
) -> AbstractAsyncContextManager[BotHarness[Any]]:
    """The bot on ``driver``'s service (``BotOptions``, ``SuperDuperOptions``); ``store`` in
    the harness is always the real one."""
    if isinstance(driver, Emulator):
        driver = SuperDuperDriver(
            driver,
            options.get("service"),
            sleep=options.get("sleep"),
            wall_clock=options.get("wall_clock"),
            reconnect_sleep=options.get("reconnect_sleep"),
        )
    elif given := sorted(_SUPERDUPER_ONLY & options.keys()):
        raise TypeError(f"{', '.join(given)}: only with a SuperDuper Emulator")
    return _harness(
        driver,
        db_path,
        chats,
        options.get("config"),
        options.get("start", True),
        options.get("wrap_store"),
        options.get("wrap_backend"),
        options.get("clock"),
        options.get("telemetry"),
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
