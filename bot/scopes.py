"""Channel → backend scope: each backend prepares a channel once (SuperDuper creates its
project), the core persists the opaque answer per (backend, channel).

Preparing is serialised per channel inside the process; across processes the backend's
own idempotency (one project per channel key) keeps it to one."""

from __future__ import annotations

import asyncio

from bot.backend.protocol import ImageBackend
from bot.jobs import ChannelKey
from bot.store import JobStore


class ScopeResolver:
    def __init__(self, store: JobStore) -> None:
        self._store = store
        self._locks: dict[tuple[str, ChannelKey], asyncio.Lock] = {}

    async def scope_for(self, backend: ImageBackend, key: ChannelKey) -> str | None:
        """The channel's scope for ``backend``, prepared (once, even under concurrency)."""
        stored = await self._store.get_scope(backend.name, key)
        if stored is not None:
            return stored
        async with self._lock(backend, key):
            stored = await self._store.get_scope(backend.name, key)
            if stored is not None:
                return stored
            return await self._prepare(backend, key, stale=None)

    async def replace(
        self, backend: ImageBackend, key: ChannelKey, stale: str | None
    ) -> str | None:
        """The service forgot ``stale``: prepare anew, unless another job already did."""
        async with self._lock(backend, key):
            stored = await self._store.get_scope(backend.name, key)
            if stored is not None and stored != stale:
                return stored
            return await self._prepare(backend, key, stale=stale)

    async def _prepare(
        self, backend: ImageBackend, key: ChannelKey, *, stale: str | None
    ) -> str | None:
        scope = await backend.prepare(str(key), stale=stale)
        if scope is not None:
            await self._store.set_scope(backend.name, key, scope)
        return scope

    def _lock(self, backend: ImageBackend, key: ChannelKey) -> asyncio.Lock:
        return self._locks.setdefault((backend.name, key), asyncio.Lock())
