"""``bot.store.JobStore`` on one SQLite file, through one aiosqlite connection.

Every write is a single statement in autocommit mode, so it is committed (and, with
``synchronous=FULL``, fsynced) before the call returns, and concurrent coroutines can
never see or roll back each other's half-done transactions. Other processes (or a
second store on the same file) wait up to ``busy_timeout_ms`` for the write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Self

import aiosqlite

from bot.clock import Clock, SystemClock
from bot.jobs import TERMINAL_STATES, ChannelKey, ChannelSettings, Job, JobState
from storage import codec
from storage.errors import StorageError, StoreClosedError
from storage.migrations import migrate, schema_version

log = logging.getLogger(__name__)

DEFAULT_BUSY_TIMEOUT_MS = 5000

# Built once from the codec's column list (constants only, no user input).
_JOB_SELECT = f"SELECT {', '.join(codec.JOB_COLUMNS)} FROM jobs"  # noqa: S608
_JOB_INSERT = (
    f"INSERT INTO jobs ({', '.join(codec.JOB_COLUMNS)}) "  # noqa: S608
    f"VALUES ({', '.join(':' + c for c in codec.JOB_COLUMNS)})"
)
_JOB_UPDATE = (
    "UPDATE jobs SET "  # noqa: S608
    + ", ".join(f"{c} = :{c}" for c in codec.JOB_COLUMNS if c != "id")
    + " WHERE id = :id"
)
_UNFINISHED_STATES = tuple(sorted(s.value for s in JobState if s not in TERMINAL_STATES))
_JOB_UNFINISHED = (
    f"{_JOB_SELECT} WHERE state IN ({', '.join('?' for _ in _UNFINISHED_STATES)}) "
    "ORDER BY created_at, rowid"
)
_PROJECT_UPSERT = """
    INSERT INTO channel_projects (platform, workspace, channel, project_id, updated_at)
    VALUES (?, ?, ?, ?, ?)
    ON CONFLICT (platform, workspace, channel)
    DO UPDATE SET project_id = excluded.project_id, updated_at = excluded.updated_at
"""
_SETTINGS_UPSERT = """
    INSERT INTO channel_settings
        (platform, workspace, channel, width, height, steps, style, extra, updated_at)
    VALUES
        (:platform, :workspace, :channel, :width, :height, :steps, :style, :extra, :updated_at)
    ON CONFLICT (platform, workspace, channel) DO UPDATE SET
        width = excluded.width, height = excluded.height, steps = excluded.steps,
        style = excluded.style, extra = excluded.extra, updated_at = excluded.updated_at
"""
_KEY_WHERE = "WHERE platform = ? AND workspace = ? AND channel = ?"


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

    def __init__(self, db: aiosqlite.Connection, path: str, clock: Clock) -> None:
        """Use :meth:`open`; this only wraps an already configured connection."""
        self._db = db
        self._path = path
        self._clock = clock
        self._closed = False

    @classmethod
    async def open(
        cls,
        path: str | os.PathLike[str],
        *,
        clock: Clock | None = None,
        busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS,
    ) -> SqliteJobStore:
        """Open (creating if needed) and migrate the database at ``path``.

        Raises :class:`StorageError` if the file cannot be opened or configured, and
        :class:`SchemaVersionError` if it was written by a newer version.
        """
        path_str = os.fspath(path)
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
        return cls(db, path_str, clock or SystemClock())

    @property
    def path(self) -> str:
        return self._path

    async def aclose(self) -> None:
        """Close the connection (idempotent). Later calls raise :class:`StoreClosedError`."""
        if self._closed:
            return
        self._closed = True
        with self._guard("close", check_open=False):
            await self._db.close()

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

    # -- channel → project -------------------------------------------------------------

    async def get_project(self, key: ChannelKey) -> str | None:
        with self._guard(f"get_project({key})"):
            rows = await self._fetchall(
                f"SELECT project_id FROM channel_projects {_KEY_WHERE}",  # noqa: S608
                _key_params(key),
            )
        return str(rows[0][0]) if rows else None

    async def set_project(self, key: ChannelKey, project_id: str) -> None:
        with self._guard(f"set_project({key})"):
            await self._write(_PROJECT_UPSERT, (*_key_params(key), project_id, self._clock.now()))

    # -- jobs ----------------------------------------------------------------------------

    async def add_job(self, job: Job) -> None:
        """Insert ``job``. ``KeyError`` if its id is taken; ``ValueError`` if its
        ``parent_job_id`` names no stored job."""
        with self._guard(f"add_job({job.id})"):
            try:
                await self._write(_JOB_INSERT, codec.job_to_row(job))
            except sqlite3.IntegrityError as exc:
                code = exc.sqlite_errorcode
                if code in (sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE):
                    raise KeyError(job.id) from exc
                if code == sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
                    raise ValueError(
                        f"job {job.id!r}: parent job {job.parent_job_id!r} does not exist"
                    ) from exc
                raise

    async def save_job(self, job: Job) -> None:
        """Overwrite the stored row with ``job`` (matched by id). ``KeyError`` if absent."""
        with self._guard(f"save_job({job.id})"):
            changed = await self._write(_JOB_UPDATE, codec.job_to_row(job))
        if changed == 0:
            raise KeyError(job.id)

    async def get_job(self, job_id: str) -> Job | None:
        with self._guard(f"get_job({job_id})"):
            rows = await self._fetchall(f"{_JOB_SELECT} WHERE id = ?", (job_id,))
        return self._decode_jobs(rows)[0] if rows else None

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        with self._guard(f"count_jobs_since({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetchall(
                "SELECT COUNT(*) FROM jobs "
                "WHERE platform = ? AND workspace = ? AND requester_id = ? AND created_at >= ?",
                (key.platform, key.workspace, requester_id, since),
            )
        return int(rows[0][0])

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not in a terminal state, oldest ``created_at`` first."""
        with self._guard("unfinished_jobs"):
            rows = await self._fetchall(_JOB_UNFINISHED, _UNFINISHED_STATES)
        return self._decode_jobs(rows)

    # -- channel settings ----------------------------------------------------------------

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        """The channel's overrides; an empty :class:`ChannelSettings` if none were set."""
        columns = ", ".join(codec.SETTINGS_COLUMNS)
        with self._guard(f"get_channel_settings({key})"):
            rows = await self._fetchall(
                f"SELECT {columns} FROM channel_settings {_KEY_WHERE}",  # noqa: S608
                _key_params(key),
            )
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
        row = codec.settings_to_row(settings)
        row.update(
            platform=key.platform,
            workspace=key.workspace,
            channel=key.channel,
            updated_at=self._clock.now(),
        )
        with self._guard(f"set_channel_settings({key})"):
            await self._write(_SETTINGS_UPSERT, row)

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


def _key_params(key: ChannelKey) -> tuple[str, str, str]:
    return (key.platform, key.workspace, key.channel)


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
