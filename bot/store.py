"""The narrow repository the core persists through. ``storage/`` implements it."""

from __future__ import annotations

from typing import Protocol

from bot.jobs import ChannelKey, ChannelSettings, Job


class StoreError(Exception):
    """The store failed for an operational reason (locked past its timeout, disk full):
    the job's last committed state is intact, and retrying later may work."""


class JobStore(Protocol):
    async def get_project(self, key: ChannelKey) -> str | None: ...

    async def set_project(self, key: ChannelKey, project_id: str) -> None:
        """Insert or replace the channel's project."""
        ...

    async def add_job(self, job: Job) -> None:
        """Insert a new job. Raises ``KeyError`` if the id is taken."""
        ...

    async def save_job(self, job: Job) -> None:
        """Write the job's current state (durably, before the caller acts on it)."""
        ...

    async def get_job(self, job_id: str) -> Job | None: ...

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        ...

    async def unfinished_jobs(self) -> list[Job]:
        """Every non-terminal job, oldest first."""
        ...

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings: ...

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None: ...
