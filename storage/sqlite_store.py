"""``bot.store.JobStore`` on one SQLite file, through one aiosqlite connection.

Every write is a single statement in autocommit mode, so it is committed (and, with
``synchronous=FULL``, fsynced) before the call returns, and concurrent coroutines can
never see or roll back each other's half-done transactions. Other processes (or a
second store on the same file) wait up to ``busy_timeout_ms`` for the write lock.

One process runs an SQLite file's jobs: ``open(..., exclusive=True)`` holds an OS lock
on ``<file>.lock`` (released by the kernel when the process dies, even by ``kill -9``)
and refuses to start while another process holds it. Leases are therefore no-ops here.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

import aiosqlite

from bot.clock import Clock, SystemClock
from bot.jobs import ChannelKey, ChannelSettings, Job
from bot.store import Claimed, StaleJob
from storage import codec, sql
from storage.errors import DatabaseInUseError, StorageError, StoreClosedError
from storage.migrations import migrate, schema_version

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_MS = 5000
QUARANTINED = sql.QUARANTINED
_JOB_INSERT = sql.job_insert()
_JOB_UPDATE = sql.job_update()


@dataclass(frozen=True, slots=True)
class StoreDiagnostics:
    """What the store's connection is really running with (for health checks, tests)."""

    path: str
    schema_version: int
    journal_mode: str
    synchronous: int  # 0 OFF, 1 NORMAL, 2 FULL, 3 EXTRA
    busy_timeout_ms: int
    foreign_keys: bool


class SqliteJobStore:
    """The job store. Create with ``await SqliteJobStore.open(path)``; close with
    ``await store.aclose()`` or use ``async with``."""

    def __init__(
        self, db: aiosqlite.Connection, path: str, clock: Clock, lock_fd: int | None = None
    ) -> None:
        """Use :meth:`open`; this only wraps an already configured connection."""
        self._db = db
        self._path = path
        self._clock = clock
        self._lock_fd = lock_fd
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
        exclusive: bool = False,
    ) -> SqliteJobStore:
        """Open (creating if needed) and migrate the database at ``path``.

        ``exclusive``: refuse (:class:`DatabaseInUseError`) while another process holds
        the file's lock, and hold it until :meth:`aclose` or the process ends.

        Raises :class:`StorageError` if the file cannot be opened or configured, and
        :class:`SchemaVersionError` if it was written by a newer version.
        """
        path_str = os.fspath(path)
        lock_fd = await asyncio.to_thread(_lock_beside, path_str) if exclusive else None
        try:
            db = await _connect(path_str)
            try:
                await _configure(db, path_str, busy_timeout_ms)
                try:
                    await migrate(db, path=path_str)
                except sqlite3.Error as exc:
                    raise StorageError.from_sqlite(
                        exc, path=path_str, operation="schema migration"
                    ) from exc
            except BaseException:
                await db.close()
                raise
        except BaseException:
            if lock_fd is not None:
                os.close(lock_fd)
            raise
        return cls(db, path_str, clock or SystemClock(), lock_fd)

    @property
    def path(self) -> str:
        return self._path

    @property
    def shared(self) -> bool:
        """False: one process runs an SQLite file's jobs."""
        return False

    async def aclose(self) -> None:
        """Close the connection (idempotent), then release the file's lock. Later calls
        raise :class:`StoreClosedError`."""
        if self._closed:
            return
        self._closed = True
        try:
            with self._guard("close", check_open=False):
                await self._db.close()
        finally:
            if self._lock_fd is not None:
                os.close(self._lock_fd)
                self._lock_fd = None

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SqliteJobStore {self._path!r} {state}>"

    # -- channel scopes (per backend) and backend values ---------------------------------

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None:
        with self._guard(f"get_scope({backend}, {key})"):
            rows = await self._fetchall(sql.GET_SCOPE, (*sql.key_values(key), backend))
        return str(rows[0][0]) if rows else None

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        with self._guard(f"set_scope({backend}, {key})"):
            await self._write(
                sql.SET_SCOPE, (backend, *sql.key_values(key), scope, self._clock.now())
            )

    async def get_value(self, name: str) -> str | None:
        with self._guard(f"get_value({name})"):
            rows = await self._fetchall(sql.GET_VALUE, (name,))
        return str(rows[0][0]) if rows else None

    async def set_value(self, name: str, value: str) -> None:
        with self._guard(f"set_value({name})"):
            await self._write(sql.SET_VALUE, (name, value, self._clock.now()))

    # -- jobs ----------------------------------------------------------------------------

    async def add_job(self, job: Job) -> Job:
        """Insert ``job`` at version 1. ``KeyError`` if its id is taken; ``ValueError`` if
        its ``parent_job_id`` names no stored job."""
        job = replace(job, version=1)
        with self._guard(f"add_job({job.id})"):
            try:
                await self._write(_JOB_INSERT, sql.job_row_values(job))
            except sqlite3.IntegrityError as exc:
                code = exc.sqlite_errorcode
                if code in (sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE):
                    raise KeyError(job.id) from exc
                if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
                    raise ValueError(
                        f"job {job.id!r}: parent job {job.parent_job_id!r} does not exist"
                    ) from exc
                raise
        return job

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        """Compare-and-set on ``job.version`` (one process owns an SQLite file, so every
        write is fenced by that). ``StaleJob`` if the row moved on; ``KeyError`` if absent."""
        with self._guard(f"save_job({job.id})"):
            changed = await self._write(_JOB_UPDATE, sql.job_update_values(job))
            if changed == 0:
                rows = await self._fetchall(sql.JOB_EXISTS, (job.id,))
        if changed == 0:
            if not rows:
                raise KeyError(job.id)
            raise StaleJob(job.id)
        return replace(job, version=job.version + 1)

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None when unknown or quarantined."""
        with self._guard(f"get_job({job_id})"):
            rows = await self._fetchall(sql.GET_JOB, (job_id,))
        return self._decode_jobs(rows)[0] if rows else None

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        with self._guard(f"count_jobs_since({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetchall(
                sql.COUNT_SINCE, (key.platform, key.workspace, requester_id, since)
            )
        return int(rows[0][0])

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        with self._guard(f"recent_jobs({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetchall(
                sql.RECENT, (key.platform, key.workspace, requester_id, limit)
            )
        return self._decode_jobs(rows)

    async def prune_jobs(self, before: float) -> int:
        """Delete jobs created before ``before`` that need nothing more (terminal and
        announced, or quarantined)."""
        with self._guard("prune_jobs"):
            return await self._write(sql.PRUNE, (before,))

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not yet finished, oldest first (read-only, for tools and tests)."""
        with self._guard("unfinished_jobs"):
            rows = await self._fetchall(sql.UNFINISHED_JOBS, ())
        return self._decode_jobs(rows)

    async def claim_unfinished(self) -> Claimed:
        """Every unfinished job and every ending not yet announced, oldest first. A row
        that cannot be read is marked ``quarantined`` (with the reason in ``error``) and
        reported, so one bad row never stops the others from resuming."""
        with self._guard("claim_unfinished"):
            rows = await self._fetchall(sql.TO_RESUME, ())
        jobs, bad = codec.jobs_or_quarantined(
            dict(zip(codec.JOB_COLUMNS, row, strict=True)) for row in rows
        )
        for job in bad:
            log.error(
                "job row %r in %r is unreadable; quarantined: %s", job.id, self._path, job.reason
            )
            with self._guard("quarantine"):
                await self._write(sql.QUARANTINE, (job.reason, job.id))
        return Claimed(jobs, bad)

    async def renew_leases(self) -> int:
        """Nothing to renew: the process holds the file (see ``exclusive``)."""
        return 0

    # -- slots ---------------------------------------------------------------------------

    async def take_slot(
        self, job_id: str, requester: ChannelKey, requester_id: str, *, per_user: int, overall: int
    ) -> bool:
        """Mark the job as holding a slot if the limits allow and none of the requester's
        older jobs waits (one statement: atomic). ``KeyError`` if the job is unknown."""
        values = sql.take_slot_values(job_id, requester, requester_id, per_user, overall)
        with self._guard(f"take_slot({job_id})"):
            if await self._write(sql.TAKE_SLOT, values):
                return True
            rows = await self._fetchall(sql.HAS_SLOT, (job_id,))
        if not rows:
            raise KeyError(job_id)
        return bool(rows[0][0])

    async def queue_position(self, job_id: str) -> int | None:
        """1-based place among accepted jobs without a slot, oldest first; None if the
        job does not wait for one."""
        with self._guard(f"queue_position({job_id})"):
            rows = await self._fetchall(sql.QUEUE_POSITION, (job_id,))
        return int(rows[0][0]) or None

    # -- channel settings ----------------------------------------------------------------

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        """The channel's overrides; an empty :class:`ChannelSettings` if none were set."""
        with self._guard(f"get_channel_settings({key})"):
            rows = await self._fetchall(sql.GET_SETTINGS, sql.key_values(key))
        if not rows:
            return ChannelSettings()
        try:
            return codec.settings_from_row(dict(zip(codec.SETTINGS_COLUMNS, rows[0], strict=True)))
        except ValueError as exc:
            raise StorageError(
                f"channel settings for {key} in {self._path!r} are unreadable: {exc}",
                path=self._path,
                operation=f"get_channel_settings({key})",
            ) from exc

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None:
        with self._guard(f"set_channel_settings({key})"):
            await self._write(
                sql.SET_SETTINGS, sql.settings_values(key, settings, self._clock.now())
            )

    # -- diagnostics ---------------------------------------------------------------------

    async def diagnostics(self) -> StoreDiagnostics:
        with self._guard("diagnostics"):
            return StoreDiagnostics(
                path=self._path,
                schema_version=await schema_version(self._db),
                journal_mode=str(await self._pragma("journal_mode")),
                synchronous=int(await self._pragma("synchronous")),
                busy_timeout_ms=int(await self._pragma("busy_timeout")),
                foreign_keys=bool(await self._pragma("foreign_keys")),
            )

    # -- internals -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _guard(self, operation: str, *, check_open: bool = True) -> Iterator[None]:
        """Refuse use after close; turn sqlite3 errors into :class:`StorageError`."""
        if check_open and self._closed:
            raise StoreClosedError(
                f"job store {self._path!r} is closed ({operation})",
                path=self._path,
                operation=operation,
            )
        try:
            yield
        except sqlite3.Error as exc:
            raise StorageError.from_sqlite(exc, path=self._path, operation=operation) from exc

    async def _write(self, sql: str, params: Any) -> int:
        """Run one autocommitted statement; return the number of rows it changed."""
        async with self._db.execute(sql, params) as cursor:
            return cursor.rowcount

    async def _fetchall(self, sql: str, params: Iterable[Any]) -> list[sqlite3.Row]:
        return list(await self._db.execute_fetchall(sql, params))

    async def _pragma(self, name: str) -> Any:
        rows = await self._fetchall(f"PRAGMA {name}", ())
        return rows[0][0]

    def _decode_jobs(self, rows: list[sqlite3.Row]) -> list[Job]:
        jobs = []
        for row in rows:
            try:
                jobs.append(codec.job_from_row(dict(zip(codec.JOB_COLUMNS, row, strict=True))))
            except ValueError as exc:
                raise StorageError(
                    f"a job row in {self._path!r} is unreadable: {exc}",
                    path=self._path,
                    operation="decode job",
                ) from exc
        return jobs


async def _connect(path: str) -> aiosqlite.Connection:
    """Open the file, then hand the connection to aiosqlite's worker thread.

    Opening it ourselves (off the event loop) keeps a failed open from leaving
    aiosqlite's thread to report into an event loop that may be gone by then. The
    sqlite3 connection is only ever used by one thread at a time: this one, then
    aiosqlite's worker, hence ``check_same_thread=False``.
    """
    try:
        conn = await asyncio.to_thread(
            sqlite3.connect, path, isolation_level=None, check_same_thread=False
        )
    except sqlite3.Error as exc:
        raise StorageError.from_sqlite(exc, path=path, operation="open") from exc
    return await aiosqlite.Connection(lambda: conn, iter_chunk_size=64)


async def _configure(db: aiosqlite.Connection, path: str, busy_timeout_ms: int) -> None:
    """Set the connection's PRAGMAs. busy_timeout first, so the rest may wait for locks."""
    try:
        await db.execute_fetchall(f"PRAGMA busy_timeout = {int(busy_timeout_ms)}")
        mode = await _enable_wal(db, busy_timeout_ms)
        await db.execute_fetchall("PRAGMA synchronous = FULL")
        await db.execute_fetchall("PRAGMA foreign_keys = ON")
    except sqlite3.Error as exc:
        raise StorageError.from_sqlite(exc, path=path, operation="configure") from exc
    if mode != "wal" and path not in (":memory:", ""):
        log.warning("SQLite %r stays in journal_mode=%s (WAL unavailable here)", path, mode)


async def _enable_wal(db: aiosqlite.Connection, busy_timeout_ms: int) -> str:
    """``PRAGMA journal_mode = WAL``, retried while another connection holds the file.

    Switching a file to WAL can fail with SQLITE_BUSY at once, without consulting the
    busy handler (e.g. two processes opening a fresh file together), so we retry for
    up to ``busy_timeout_ms`` ourselves.
    """
    waited_ms, delay_ms = 0, 5
    while True:
        try:
            rows = list(await db.execute_fetchall("PRAGMA journal_mode = WAL"))
            return str(rows[0][0]).lower()
        except sqlite3.OperationalError as exc:
            if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or waited_ms >= busy_timeout_ms:
                raise
        await asyncio.sleep(delay_ms / 1000)
        waited_ms += delay_ms
        delay_ms = min(delay_ms * 2, 100)


def _lock_beside(path: str) -> int | None:
    """Take an exclusive ``flock`` on ``<path>.lock`` and write our pid in it; return its
    descriptor. :class:`DatabaseInUseError` while another process holds it."""
    if path in (":memory:", ""):
        return None
    lock_path = f"{path}.lock"
    try:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StorageError(
            f"cannot create the lock file {lock_path!r}: {exc.strerror}; check that the "
            "directory exists and is writable (IMAGINE_DB_PATH)",
            path=path,
            operation="lock",
        ) from exc
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
        os.close(fd)
        raise DatabaseInUseError(path=path, holder=holder or None) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
