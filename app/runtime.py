"""Composition root: one HTTP client, the configured backends (one WebSocket each), one
store, one bot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from bot.backend.protocol import ImageBackend
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings, make_http_client
from bot.config import BotConfig
from bot.service import ImagineBot
from storage import SqliteJobStore


@dataclass(frozen=True, slots=True)
class Runtime:
    bot: ImagineBot
    store: SqliteJobStore
    backends: dict[str, ImageBackend]


@asynccontextmanager
async def open_runtime(
    service: SuperDuperSettings, db_path: Path, config: BotConfig
) -> AsyncIterator[Runtime]:
    """Create the process's long-lived resources and close them in reverse order."""
    db_path.parent.mkdir(parents=True, exist_ok=True)
    async with AsyncExitStack() as stack:
        http = await stack.enter_async_context(make_http_client(service))
        store = await SqliteJobStore.open(db_path)
        stack.push_async_callback(store.aclose)
        backend = SuperDuperBackend(service, http=http)
        await backend.start()
        stack.push_async_callback(backend.aclose)
        backends: dict[str, ImageBackend] = {backend.name: backend}
        bot = ImagineBot(store=store, backends=backends, config=config)
        stack.push_async_callback(bot.aclose)
        yield Runtime(bot=bot, store=store, backends=backends)
