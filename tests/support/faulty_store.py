"""A job store that dies at a chosen write, to stand in for a crash at that moment.

``Crash`` is a ``BaseException``: no ``except Exception`` in the bot catches it, so the job's
task ends right there, as if the process had been killed (only ``finally`` blocks run,
which a real kill would not run either, but none of them writes the store)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.jobs import ChannelKey, ChannelSettings, Job
from bot.store import Claimed
from storage import SqliteJobStore

JobTest = Callable[[Job], bool]


class Crash(BaseException):
    """The process "dies" here."""


class FaultyStore:
    """Delegates to a real store; ``crash_before(job)`` stops a write before it happens,
    ``crash_after(job)`` right after it committed. Each fires once."""

    def __init__(
        self,
        inner: SqliteJobStore,
        *,
        crash_before: JobTest | None = None,
        crash_after: JobTest | None = None,
    ) -> None:
        self.inner = inner
        self._before = crash_before
        self._after = crash_after
        self.crashed = asyncio.Event()

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        if self._before is not None and self._before(job):
            self._before = None
            self.crashed.set()
            raise Crash(f"crash before writing job {job.id} as {job.state.value}")
        saved = await self.inner.save_job(job, fenced=fenced)
        if self._after is not None and self._after(saved):
            self._after = None
            self.crashed.set()
            raise Crash(f"crash after writing job {job.id} as {job.state.value}")
        return saved

    async def add_job(self, job: Job) -> Job:
        return await self.inner.add_job(job)

    async def get_job(self, job_id: str) -> Job | None:
        return await self.inner.get_job(job_id)

    async def claim_unfinished(self) -> Claimed:
        return await self.inner.claim_unfinished()

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        return await self.inner.count_jobs_since(key, requester_id, since)

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        return await self.inner.recent_jobs(key, requester_id, limit)

    async def prune_jobs(self, before: float) -> int:
        return await self.inner.prune_jobs(before)

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None:
        return await self.inner.get_scope(backend, key)

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        await self.inner.set_scope(backend, key, scope)

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        return await self.inner.get_channel_settings(key)

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None:
        await self.inner.set_channel_settings(key, settings)

    @property
    def shared(self) -> bool:
        return self.inner.shared

    async def renew_leases(self) -> frozenset[str]:
        return await self.inner.renew_leases()

    async def take_slot(
        self, job_id: str, requester: ChannelKey, requester_id: str, *, per_user: int, overall: int
    ) -> bool:
        return await self.inner.take_slot(
            job_id, requester, requester_id, per_user=per_user, overall=overall
        )

    async def queue_position(self, job_id: str) -> int | None:
        return await self.inner.queue_position(job_id)

    async def slots_in_use(self) -> int:
        return await self.inner.slots_in_use()
