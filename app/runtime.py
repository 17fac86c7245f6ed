"""Composition root: one HTTP client, one backend (one WebSocket), one store, one bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings, make_http_client
from bot.config import BotConfig
from bot.service import ImagineBot
from storage import SqliteJobStore


@dataclass(frozen=True, slots=True)
class Runtime:
    bot: ImagineBot
    store: SqliteJobStore
    backend: SuperDuperBackend


@asynccontextmanager
async def open_runtime(
    service: SuperDuperSettings, db_path: Path, config: BotConfig
) -> AsyncIterator[Runtime]:
    """Create the process's long-lived resources and close them in reverse order."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    async with make_http_client(service) as http:
        store = await SqliteJobStore.open(db_path)
        try:
            backend = SuperDuperBackend(service, http=http)
            await backend.start()
            try:
                bot = ImagineBot(store=store, backend=backend, config=config)
                try:
                    yield Runtime(bot=bot, store=store, backend=backend)
                finally:
                    await bot.aclose()
            finally:
                await backend.aclose()
        finally:
            await store.aclose()
