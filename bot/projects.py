"""Channel → project mapping: exactly one project per channel, created on first use.

The service only sends WebSocket events for files that belong to a project, so
every job is submitted with its channel's project."""

from __future__ import annotations

import asyncio

from bot.backend.protocol import ImageBackend
from bot.jobs import ChannelKey
from bot.store import JobStore


class ProjectResolver:
    def __init__(self, store: JobStore, backend: ImageBackend) -> None:
        self._store = store
        self._backend = backend
        self._locks: dict[ChannelKey, asyncio.Lock] = {}

    async def project_for(self, key: ChannelKey) -> str:
        """The channel's project, created (once, even under concurrency) if missing."""
        stored = await self._store.get_project(key)
        if stored is not None:
            return stored
        async with self._lock(key):
            stored = await self._store.get_project(key)
            if stored is not None:
                return stored
            return await self._create(key, idempotency_key=f"imagine-bot:{key}")

    async def replace(self, key: ChannelKey, stale_project_id: str) -> str:
        """The service forgot ``stale_project_id``: create a new one, unless another
        job already did."""
        async with self._lock(key):
            stored = await self._store.get_project(key)
            if stored is not None and stored != stale_project_id:
                return stored
            return await self._create(
                key, idempotency_key=f"imagine-bot:{key}:replaces:{stale_project_id}"
            )

    async def _create(self, key: ChannelKey, *, idempotency_key: str) -> str:
        project_id = await self._backend.create_project(
            title=f"imagine-bot {key}", idempotency_key=idempotency_key
        )
        await self._store.set_project(key, project_id)
        return project_id

    def _lock(self, key: ChannelKey) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())
