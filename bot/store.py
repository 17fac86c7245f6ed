"""The narrow repository the core persists through. ``storage/`` implements it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from bot.jobs import ChannelKey, ChannelSettings, Job


class StoreError(Exception):
    """The store failed for an operational reason (locked past its timeout, disk full):
    the job's last committed state is intact, and retrying later may work."""


class StaleJob(Exception):
    """The job was written by someone else since it was read (a Cancel press, another
    replica): the write was refused. Re-read it before acting again."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} changed since it was read")
        self.job_id = job_id


@dataclass(frozen=True, slots=True)
class QuarantinedJob:
    """An unfinished job row that could not be read; it was set aside, not resumed.
    The identifying columns are given when they were readable (to tell the requester)."""

    id: str
    reason: str
    platform: str | None = None
    workspace: str | None = None
    channel: str | None = None
    thread: str | None = None
    requester_id: str | None = None


@dataclass(frozen=True, slots=True)
class Claimed:
    """What a store hands a starting process: jobs to resume, oldest first."""

    jobs: list[Job] = field(default_factory=list)
    quarantined: list[QuarantinedJob] = field(default_factory=list)


class JobStore(Protocol):
    async def add_job(self, job: Job) -> Job:
        """Insert a new job (its version becomes 1). ``KeyError`` if the id is taken."""
        ...

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        """Write ``job`` if the stored version is still ``job.version``; return it with
        the new version. ``StaleJob`` otherwise, ``KeyError`` if it does not exist.

        ``fenced`` writes also require that this process still holds the job (replicas);
        an unfenced write (a Cancel press on any replica) only checks the version, and
        the writer then holds the job (it announces what it wrote)."""
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def claim_unfinished(self) -> Claimed:
        """Every job this process should resume: the unfinished ones and the failures
        whose notice was not delivered. Unreadable rows are quarantined, not returned."""
        ...

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        ...

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        """The requester's latest jobs in ``key``'s workspace, newest first."""
        ...

    async def prune_jobs(self, before: float) -> int:
        """Delete finished jobs created before ``before``; return how many."""
        ...

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None: ...

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        """Insert or replace the channel's scope for ``backend``."""
        ...

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings: ...

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None: ...

    @property
    def shared(self) -> bool:
        """True when other processes may hold jobs (PostgreSQL)."""
        ...

    async def renew_leases(self) -> frozenset[str]:
        """Extend the lease of every resumable job this process holds; their ids (empty
        where nothing is shared)."""
        ...

    async def take_slot(
        self, job_id: str, requester: ChannelKey, requester_id: str, *, per_user: int, overall: int
    ) -> bool:
        """Atomically: if the requester's jobs holding a slot (non-terminal) < per_user and
        all such jobs < overall and no older slot-less accepted job of the same requester
        (same workspace) waits, mark this job as holding a slot; True when granted.
        Idempotent for a job that already holds one."""
        ...

    async def queue_position(self, job_id: str) -> int | None:
        """1-based among accepted jobs without a slot (oldest first), or None."""
        ...

    async def slots_in_use(self) -> int:
        """Unfinished jobs holding a slot, across every process."""
        ...


class ValueStore(Protocol):
    """Small named values a backend keeps across restarts (e.g. ComfyUI's client id)."""

    async def get_value(self, name: str) -> str | None: ...

    async def set_value(self, name: str, value: str) -> None: ...
