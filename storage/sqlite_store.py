"""``bot.store.JobStore`` on one SQLite file, through one aiosqlite connection.

Every write is a single statement in autocommit mode, so it is committed (and, with
``synchronous=FULL``, fsynced) before the call returns, and concurrent coroutines can
never see or roll back each other's half-done transactions. Other processes (or a
second store on the same file) wait up to ``busy_timeout_ms`` for the write lock; a
slot grant is one statement, so it is atomic too.

One process runs an SQLite file's jobs: ``open(..., exclusive=True)`` holds an OS lock
on ``<file>.lock`` (released by the kernel when the process dies, even by ``kill -9``)
and refuses to start while another process holds it. Leases are therefore no-ops here.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiosqlite

from bot.clock import Clock, SystemClock
from bot.jobs import Job
from storage import sql
from storage.base import SqlJobStore
from storage.errors import DatabaseInUseError, StorageError
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


class SqliteJobStore(SqlJobStore):
    """The job store. Create with ``await SqliteJobStore.open(path)``; close with
    ``await store.aclose()`` or use ``async with``."""

    def __init__(
        self, db: aiosqlite.Connection, path: str, clock: Clock, lock_fd: int | None = None
    ) -> None:
        """Use :meth:`open`; this only wraps an already configured connection."""
        super().__init__(statements=sql.SQLITE, where=repr(path), clock=clock)
        self._db = db
        self._path = path
        self._lock_fd = lock_fd

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

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<SqliteJobStore {self._path!r} {state}>"

    async def add_job(self, job: Job) -> Job:
        """Insert ``job`` at version 1. ``KeyError`` if its id is taken; ``ValueError`` if
        its ``parent_job_id`` names no stored job."""
        job = replace(job, version=1)
        with self._guard(f"add_job({job.id})"):
            try:
                await self._execute(_JOB_INSERT, *sql.job_row_values(job))
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

    async def renew_leases(self) -> frozenset[str]:
        """Nothing to renew: the process holds the file (see ``exclusive``)."""
        return frozenset()

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

    # -- the dialect's part --------------------------------------------------------------

    async def _execute(self, statement: str, *args: object) -> int:
        async with self._db.execute(statement, args) as cursor:
            return cursor.rowcount

    async def _fetch(self, statement: str, *args: object) -> Sequence[sqlite3.Row]:
        return list(await self._db.execute_fetchall(statement, args))

    def _failure(self, exc: Exception, operation: str) -> StorageError | None:
        if not isinstance(exc, sqlite3.Error):
            return None
        return StorageError.from_sqlite(exc, path=self._path, operation=operation)

    async def _rows_to_claim(self) -> Sequence[sqlite3.Row]:
        """Every unfinished job and every ending not yet announced."""
        return await self._fetch(sql.TO_RESUME)

    async def _grant_slot(self, values: list[object]) -> bool:
        return await self._execute(self._sql.take_slot, *values) > 0  # one statement: atomic

    def _save(self, job: Job, fenced: bool) -> tuple[str, list[object]]:
        # One process owns an SQLite file, so the version alone fences every write.
        return _JOB_UPDATE, sql.job_update_values(job)

    async def _pragma(self, name: str) -> Any:
        rows = await self._fetch(f"PRAGMA {name}")
        return rows[0][0]


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
    conn.row_factory = sqlite3.Row
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
