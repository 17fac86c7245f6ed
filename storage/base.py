"""What both stores share: the contract's calls on the SQL of :mod:`storage.sql`, over a
few primitives each dialect provides (run a statement, fetch rows, map its driver's
errors, the rows a claim takes, how a slot grant is serialised)."""

from __future__ import annotations

import contextlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from dataclasses import replace
from types import TracebackType
from typing import Self

from bot.clock import Clock
from bot.jobs import ChannelKey, ChannelSettings, Job
from bot.store import Claimed, StaleJob
from storage import codec, sql
from storage.errors import StorageError, StoreClosedError

log = logging.getLogger(__name__)


class SqlJobStore(ABC):
    """A :class:`bot.store.JobStore` (and ``ValueStore``) on an SQL database."""

    def __init__(self, *, statements: sql.Statements, where: str, clock: Clock) -> None:
        self._sql = statements
        self._where = where
        """The database, for messages (a path, or a URL without its password)."""
        self._clock = clock
        self._closed = False

    # -- what a dialect provides ---------------------------------------------------------

    @abstractmethod
    async def _execute(self, statement: str, *args: object) -> int:
        """Run one statement (its own transaction); the number of rows it changed."""

    @abstractmethod
    async def _fetch(self, statement: str, *args: object) -> Sequence[codec.Row]: ...

    @abstractmethod
    def _failure(self, exc: Exception, operation: str) -> StorageError | None:
        """The driver's error as a :class:`StorageError`; None if it is not one of its."""

    @abstractmethod
    async def _rows_to_claim(self) -> Sequence[codec.Row]:
        """The rows this store now takes over, oldest first."""

    @abstractmethod
    async def _grant_slot(self, values: list[object]) -> bool:
        """Run ``sql.TAKE_SLOT`` with ``values`` so that grants cannot interleave."""

    @abstractmethod
    def _save(self, job: Job, fenced: bool) -> tuple[str, list[object]]:
        """The compare-and-set statement for ``job`` and its values."""

    @abstractmethod
    async def aclose(self) -> None: ...

    # -- lifecycle -----------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- channel scopes (per backend) and backend values ---------------------------------

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None:
        with self._guard(f"get_scope({backend}, {key})"):
            rows = await self._fetch(self._sql.get_scope, *sql.key_values(key), backend)
        return str(rows[0]["scope"]) if rows else None

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        """Insert or replace the channel's scope for ``backend``."""
        values = (backend, *sql.key_values(key), scope, self._clock.now())
        with self._guard(f"set_scope({backend}, {key})"):
            await self._execute(self._sql.set_scope, *values)

    async def get_value(self, name: str) -> str | None:
        with self._guard(f"get_value({name})"):
            rows = await self._fetch(self._sql.get_value, name)
        return str(rows[0]["value"]) if rows else None

    async def set_value(self, name: str, value: str) -> None:
        with self._guard(f"set_value({name})"):
            await self._execute(self._sql.set_value, name, value, self._clock.now())

    # -- jobs ----------------------------------------------------------------------------

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        """Compare-and-set on ``job.version`` (and, where replicas share the database and
        ``fenced``, on who holds it). ``StaleJob`` if the row moved on or changed hands;
        ``KeyError`` if it does not exist."""
        statement, values = self._save(job, fenced)
        with self._guard(f"save_job({job.id})"):
            if await self._execute(statement, *values) == 0:
                exists = await self._fetch(self._sql.job_exists, job.id)
                raise StaleJob(job.id) if exists else KeyError(job.id)
        return replace(job, version=job.version + 1)

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None when unknown or quarantined."""
        with self._guard(f"get_job({job_id})"):
            rows = await self._fetch(self._sql.get_job, job_id)
        return self._decode_jobs(rows)[0] if rows else None

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        values = (key.platform, key.workspace, requester_id, since)
        with self._guard(f"count_jobs_since({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetch(self._sql.count_since, *values)
        return int(rows[0]["n"])

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        """The requester's latest jobs in ``key``'s workspace, newest first."""
        values = (key.platform, key.workspace, requester_id, limit)
        with self._guard(f"recent_jobs({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetch(self._sql.recent, *values)
        return self._decode_jobs(rows)

    async def prune_jobs(self, before: float) -> int:
        """Delete jobs created before ``before`` that need nothing more (terminal and
        announced, or quarantined)."""
        with self._guard("prune_jobs"):
            return await self._execute(self._sql.prune, before)

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not yet finished, whoever holds it, oldest first (read-only, for
        tools and tests)."""
        with self._guard("unfinished_jobs"):
            rows = await self._fetch(self._sql.unfinished_jobs)
        return self._decode_jobs(rows)

    async def claim_unfinished(self) -> Claimed:
        """The jobs to resume (see :meth:`_rows_to_claim`), oldest first. A row that cannot
        be read is marked ``quarantined`` (the reason in ``error``) and reported, so one
        bad row never stops the others from resuming."""
        with self._guard("claim_unfinished"):
            jobs, bad = codec.jobs_or_quarantined(await self._rows_to_claim())
            for job in bad:
                log.error("job row %r in %s is unreadable; quarantined: %s",
                          job.id, self._where, job.reason)  # fmt: skip
                await self._execute(self._sql.quarantine, job.reason, job.id)
        return Claimed(jobs, bad)

    # -- slots ---------------------------------------------------------------------------

    async def take_slot(
        self, job_id: str, requester: ChannelKey, requester_id: str, *, per_user: int, overall: int
    ) -> bool:
        """Mark the job as holding a slot if the requester has fewer than ``per_user``,
        everyone fewer than ``overall``, and none of the requester's older jobs waits for
        one; True when it holds one (also from before). ``KeyError`` if it is unknown."""
        values = sql.take_slot_values(job_id, requester, requester_id, per_user, overall)
        with self._guard(f"take_slot({job_id})"):
            if await self._grant_slot(values):
                return True
            rows = await self._fetch(self._sql.has_slot, job_id)
        if not rows:
            raise KeyError(job_id)
        return bool(rows[0]["has_slot"])

    async def queue_position(self, job_id: str) -> int | None:
        """1-based place among accepted jobs without a slot, oldest first; None if the
        job does not wait for one."""
        with self._guard(f"queue_position({job_id})"):
            rows = await self._fetch(self._sql.queue_position, job_id)
        return int(rows[0]["n"]) or None

    async def slots_in_use(self) -> int:
        """Unfinished jobs holding a slot, whoever holds them."""
        with self._guard("slots_in_use"):
            rows = await self._fetch(self._sql.slots_in_use)
        return int(rows[0]["n"])

    # -- channel settings ----------------------------------------------------------------

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        """The channel's overrides; an empty :class:`ChannelSettings` if none were set."""
        with self._guard(f"get_channel_settings({key})"):
            rows = await self._fetch(self._sql.get_settings, *sql.key_values(key))
        if not rows:
            return ChannelSettings()
        try:
            return codec.settings_from_row(rows[0])
        except ValueError as exc:
            raise StorageError(
                f"channel settings for {key} in {self._where} are unreadable: {exc}",
                path=self._where,
                operation=f"get_channel_settings({key})",
            ) from exc

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None:
        values = sql.settings_values(key, settings, self._clock.now())
        with self._guard(f"set_channel_settings({key})"):
            await self._execute(self._sql.set_settings, *values)

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, operation: str, *, check_open: bool = True) -> Iterator[None]:
        """Refuse use after close; turn the driver's errors into :class:`StorageError`."""
        if check_open and self._closed:
            raise StoreClosedError(
                f"job store {self._where} is closed ({operation})",
                path=self._where,
                operation=operation,
            )
        try:
            yield
        except Exception as exc:
            error = self._failure(exc, operation)
            if error is None:
                raise
            raise error from exc

    def _decode_jobs(self, rows: Sequence[codec.Row]) -> list[Job]:
        try:
            return [codec.job_from_row(row) for row in rows]
        except ValueError as exc:
            raise StorageError(
                f"a job row in {self._where} is unreadable: {exc}",
                path=self._where,
                operation="decode job",
            ) from exc
