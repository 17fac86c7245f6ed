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
from dataclasses import dataclass, replace
from types import TracebackType
from typing import Any, Self

import aiosqlite

from bot.clock import Clock, SystemClock
from bot.jobs import TERMINAL_STATES, ChannelKey, ChannelSettings, Job, JobState
from bot.store import Claimed, QuarantinedJob, StaleJob
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
    + ", ".join(f"{c} = :{c}" for c in codec.JOB_COLUMNS if c not in ("id", "version"))
    + ", version = version + 1 WHERE id = :id AND version = :version"
)
QUARANTINED = "quarantined"
"""The state of a job row that could not be read: kept for an operator, never resumed."""
_UNFINISHED_STATES = tuple(sorted(s.value for s in JobState if s not in TERMINAL_STATES))
_FINISHED_STATES = tuple(sorted(s.value for s in TERMINAL_STATES))
_JOB_TO_RESUME = (
    f"{_JOB_SELECT} WHERE state IN ({', '.join('?' for _ in _UNFINISHED_STATES)}) "
    f"OR (notified = 0 AND state IN ({', '.join('?' for _ in _FINISHED_STATES)})) "
    "ORDER BY created_at, rowid"
)
_SCOPE_UPSERT = """
    INSERT INTO channel_scopes (backend, platform, workspace, channel, scope, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (backend, platform, workspace, channel)
    DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at
"""
_SETTINGS_UPSERT = """
    INSERT INTO channel_settings
        (platform, workspace, channel, width, height, steps, style, backend, extra, updated_at)
    VALUES
        (:platform, :workspace, :channel, :width, :height, :steps, :style, :backend, :extra,
         :updated_at)
    ON CONFLICT (platform, workspace, channel) DO UPDATE SET
        width = excluded.width, height = excluded.height, steps = excluded.steps,
        style = excluded.style, backend = excluded.backend, extra = excluded.extra,
        updated_at = excluded.updated_at
"""
_VALUE_UPSERT = """
    INSERT INTO backend_values (name, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
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

    # -- channel scopes (per backend) and backend values ---------------------------------

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None:
        with self._guard(f"get_scope({backend}, {key})"):
            rows = await self._fetchall(
                f"SELECT scope FROM channel_scopes {_KEY_WHERE} AND backend = ?",  # noqa: S608
                (*_key_params(key), backend),
            )
        return str(rows[0][0]) if rows else None

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        with self._guard(f"set_scope({backend}, {key})"):
            await self._write(_SCOPE_UPSERT, (backend, *_key_params(key), scope, self._clock.now()))

    async def get_value(self, name: str) -> str | None:
        with self._guard(f"get_value({name})"):
            rows = await self._fetchall("SELECT value FROM backend_values WHERE name = ?", (name,))
        return str(rows[0][0]) if rows else None

    async def set_value(self, name: str, value: str) -> None:
        with self._guard(f"set_value({name})"):
            await self._write(_VALUE_UPSERT, (name, value, self._clock.now()))

    # -- jobs ----------------------------------------------------------------------------

    async def add_job(self, job: Job) -> Job:
        """Insert ``job`` at version 1. ``KeyError`` if its id is taken; ``ValueError`` if
        its ``parent_job_id`` names no stored job."""
        job = replace(job, version=1)
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
        return job

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        """Compare-and-set on ``job.version`` (one process owns an SQLite file, so every
        write is fenced by that). ``StaleJob`` if the row moved on; ``KeyError`` if absent."""
        with self._guard(f"save_job({job.id})"):
            changed = await self._write(_JOB_UPDATE, codec.job_to_row(job))
            if changed == 0:
                rows = await self._fetchall("SELECT version FROM jobs WHERE id = ?", (job.id,))
        if changed == 0:
            if not rows:
                raise KeyError(job.id)
            raise StaleJob(job.id)
        return replace(job, version=job.version + 1)

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None when unknown or quarantined."""
        with self._guard(f"get_job({job_id})"):
            rows = await self._fetchall(
                f"{_JOB_SELECT} WHERE id = ? AND state != ?", (job_id, QUARANTINED)
            )
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

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        with self._guard(f"recent_jobs({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._fetchall(
                f"{_JOB_SELECT} WHERE platform = ? AND workspace = ? AND requester_id = ? "
                "AND state != ? ORDER BY created_at DESC, rowid DESC LIMIT ?",
                (key.platform, key.workspace, requester_id, QUARANTINED, limit),
            )
        return self._decode_jobs(rows)

    async def prune_jobs(self, before: float) -> int:
        """Delete jobs created before ``before`` that need nothing more (terminal and
        announced, or quarantined)."""
        finished = ", ".join("?" for _ in _FINISHED_STATES)
        with self._guard("prune_jobs"):
            return await self._write(
                "DELETE FROM jobs WHERE created_at < ? AND ("  # noqa: S608
                f"(notified = 1 AND state IN ({finished})) OR state = ?)",
                (before, *_FINISHED_STATES, QUARANTINED),
            )

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not yet finished, oldest first (read-only, for tools and tests)."""
        with self._guard("unfinished_jobs"):
            rows = await self._fetchall(
                f"{_JOB_SELECT} WHERE state IN ({', '.join('?' for _ in _UNFINISHED_STATES)}) "
                "ORDER BY created_at, rowid",
                _UNFINISHED_STATES,
            )
        return self._decode_jobs(rows)

    async def claim_unfinished(self) -> Claimed:
        """Every unfinished job and every ending not yet announced, oldest first. A row
        that cannot be read is marked ``quarantined`` (with the reason in ``error``) and
        reported, so one bad row never stops the others from resuming."""
        with self._guard("claim_unfinished"):
            rows = await self._fetchall(_JOB_TO_RESUME, (*_UNFINISHED_STATES, *_FINISHED_STATES))
        claimed = Claimed()
        for row in rows:
            values = dict(zip(codec.JOB_COLUMNS, row, strict=True))
            try:
                claimed.jobs.append(codec.job_from_row(values))
            except ValueError as exc:
                reason = str(exc)[:500]
                log.error(
                    "job row %r in %r is unreadable; quarantined: %s",
                    values["id"],
                    self._path,
                    reason,
                )
                with self._guard("quarantine"):
                    await self._write(
                        "UPDATE jobs SET state = ?, error = ? WHERE id = ?",
                        (QUARANTINED, reason, values["id"]),
                    )
                claimed.quarantined.append(_quarantined(values, reason))
        return claimed

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


def _quarantined(values: dict[str, Any], reason: str) -> QuarantinedJob:
    def text(name: str) -> str | None:
        value = values.get(name)
        return value if isinstance(value, str) and value else None

    return QuarantinedJob(
        id=str(values.get("id")),
        reason=reason,
        platform=text("platform"),
        workspace=text("workspace"),
        channel=text("channel"),
        thread=text("thread"),
        requester_id=text("requester_id"),
    )


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
