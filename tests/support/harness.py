"""Real wiring for tests: the emulator over loopback, the real client and watcher,
a real SQLite file, and the real core. Only the chat platform is a recording fake
(or an adapter under test)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bot.backend.retry import Sleep, WallClock
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings, make_http_client
from bot.chat import ChatPort, Conversation, Invocation, Requester
from bot.clock import Clock
from bot.config import BotConfig
from bot.service import ImagineBot
from bot.store import JobStore
from bot.telemetry import Telemetry
from emulator.superduper import Emulator, EmulatorConfig
from storage import SqliteJobStore

TOKEN = "test-service-token-0123456789"

FAST_EMULATOR = dict(gen_time=(0.05, 0.15))


def emulator_config(**knobs: object) -> EmulatorConfig:
    return EmulatorConfig(token=TOKEN, **{**FAST_EMULATOR, **knobs})  # type: ignore[arg-type]


def fast_service(emulator: Emulator, **overrides: object) -> SuperDuperSettings:
    """Client timings scaled down so a whole job takes a fraction of a second."""
    knobs: dict[str, object] = dict(
        expected_generation_time=0.05,
        poll_interval_min=0.05,
        poll_interval_cap=0.2,
        safety_net_poll=0.5,
        reconcile_spread=0.05,
        reconnect_floor=0.05,
        reconnect_cap=0.5,
        healthy_after=0.5,
        retry_base=0.01,
        retry_cap=0.05,
        request_timeout=5.0,
    )
    knobs.update(overrides)
    return SuperDuperSettings(base_url=emulator.base_url, token=TOKEN, **knobs)  # type: ignore[arg-type]


def fast_bot_config(**overrides: object) -> BotConfig:
    knobs: dict[str, object] = dict(
        progress_interval=0.0, delivery_retry_delay=0.01, store_retry_delay=0.01
    )
    knobs.update(overrides)
    return BotConfig(**knobs)  # type: ignore[arg-type]


StoreWrapper = Callable[[SqliteJobStore], JobStore]


@dataclass
class Harness:
    bot: ImagineBot
    store: SqliteJobStore
    backend: SuperDuperBackend
    emulator: Emulator
    http: httpx.AsyncClient = field(repr=False)

    async def image_bytes(self, url: str) -> bytes:
        """What the service serves at a result URL (fetched directly, for comparisons)."""
        response = await self.http.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
        response.raise_for_status()
        return response.content


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


@asynccontextmanager
async def open_harness(
    emulator: Emulator,
    db_path: Path,
    chats: list[ChatPort],
    *,
    config: BotConfig | None = None,
    service: SuperDuperSettings | None = None,
    start: bool = True,
    wrap_store: StoreWrapper | None = None,
    clock: Clock | None = None,
    telemetry: Telemetry | None = None,
    sleep: Sleep | None = None,
    wall_clock: WallClock | None = None,
    reconnect_sleep: Sleep | None = None,
) -> AsyncIterator[Harness]:
    """``store`` in the harness is always the real one; ``wrap_store`` puts a test double
    (e.g. ``FaultyStore``) between it and the bot. ``sleep`` (the backend's pause between
    HTTP retries), ``wall_clock`` (for ``Retry-After`` dates) and ``reconnect_sleep`` (its
    WebSocket's pause between attempts) go to the backend, e.g. to record the waits."""
    settings = service or fast_service(emulator)
    async with make_http_client(settings) as http:
        store = await SqliteJobStore.open(db_path)
        backend = SuperDuperBackend(
            settings, http=http, sleep=sleep, wall_clock=wall_clock, reconnect_sleep=reconnect_sleep
        )
        await backend.start()
        bot = ImagineBot(
            store=wrap_store(store) if wrap_store is not None else store,
            backends={backend.name: backend},
            config=config or fast_bot_config(),
            clock=clock,
            telemetry=telemetry,
        )
        for chat in chats:
            bot.add_chat(chat)
        try:
            if start:
                await bot.start()
            yield Harness(bot, store, backend, emulator, http)
        finally:
            await bot.aclose()
            await backend.aclose()
            await store.aclose()
