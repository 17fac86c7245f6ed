"""Composition root: one HTTP client, the configured backends (one WebSocket each), one
store (SQLite, or PostgreSQL shared by replicas), one bot."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass

from app.backends import BackendSpec
from app.stores import StoreSettings, open_store
from bot.backend.http import shared_http_client
from bot.backend.protocol import ImageBackend
from bot.config import BotConfig
from bot.service import ImagineBot
from bot.telemetry import Telemetry
from storage import PostgresJobStore, SqliteJobStore

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Runtime:
    bot: ImagineBot
    store: SqliteJobStore | PostgresJobStore
    backends: dict[str, ImageBackend]


@asynccontextmanager
async def open_runtime(
    specs: Sequence[BackendSpec],
    store_settings: StoreSettings,
    config: BotConfig,
    *,
    telemetry: Telemetry | None = None,
) -> AsyncIterator[Runtime]:
    """Create the process's long-lived resources and close them in reverse order. The
    first backend of ``specs`` is the default one."""
    if not specs:
        raise ValueError("no backend is configured")
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(shared_http_client())
        store = await open_store(store_settings)
        stack.push_async_callback(store.aclose)
        log.info("jobs are kept in %s", store_settings.describe())
        backends: dict[str, ImageBackend] = {}
        for spec in specs:
            backend = spec.build(http, store)
            await backend.start()
            stack.push_async_callback(backend.aclose)
            backends[backend.name] = backend
        bot = ImagineBot(
            store=store,
            backends=backends,
            default_backend=specs[0].name,
            config=config,
            telemetry=telemetry,
        )
        stack.push_async_callback(bot.aclose)
        yield Runtime(bot=bot, store=store, backends=backends)


async def log_backend_status(backends: dict[str, ImageBackend]) -> None:
    """Probe each service once: one clear line when one is unreachable (the bot keeps
    running; jobs wait and poll until it answers)."""
    for backend in backends.values():
        status = await backend.probe()
        if status.reachable:
            log.info("%s", status.detail)
        else:
            log.warning("%s — jobs will wait and retry until it answers", status.detail)
