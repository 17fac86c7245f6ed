"""``bot.store.JobStore`` on PostgreSQL through one asyncpg pool, for several replicas.

Each replica opens the store with its ``owner`` id. A job belongs to the replica that
added or claimed it, for ``lease_seconds`` past its last fenced write or heartbeat
(:meth:`renew_leases`). A fenced write requires ``owner = me`` and the version read; a
claim (``FOR UPDATE SKIP LOCKED``) takes jobs that are unowned, expired, or (at a
restart) this owner's, and bumps their version, so a replica that lost a job can no
longer write it. Lease times come from the store's clock: keep replicas' clocks in sync
(NTP) to well within ``lease_seconds``.

Slots are granted under one transaction-scoped advisory lock: the counts that decide a
grant are read after the previous grant committed, and the lock goes with the
transaction whatever happens to the connection. (A ``SELECT … FOR UPDATE`` on a row that
stands for "the slots" would serialise the same way, but writes a row lock to that
tuple on every grant and needs the row to exist; the advisory lock is only in memory.)

Chosen by measurement (``python -m bench.store_cost``; one job = add, 6 compare-and-set
saves, 3 gets and its share of a claim; CPU of the bot's process, every thread; the
server's own CPU beside it)::

    store                                              CPU ms/job server ms/job  jobs/s
    SQLite (aiosqlite, SqliteJobStore)                       3.49             -     161
    PostgreSQL, asyncpg direct (PostgresJobStore)            3.67          4.36     112
    PostgreSQL, SQLAlchemy Core async over asyncpg           6.42          4.00      82
      same, without the job_transitions trigger              4.09          3.96     107
    (2000 jobs x 3 runs, median; 20 in flight; 2 cores, AMD EPYC, Python 3.11.7, 2026-12-02)

asyncpg direct costs the bot about what SQLite does; SQLAlchemy Core over the same driver
costs 1.75x (+2.8 ms per job) and brings nothing these dozen statements need, so it is
not used. Single runs vary by up to 0.7 ms per job (client and server share 2 cores; the
last row's client figure differs from the second's by that noise alone). The history
trigger costs the server about 0.4 ms per job.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterator
from dataclasses import replace
from types import TracebackType
from typing import Self
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from bot.clock import Clock, SystemClock
from bot.jobs import ChannelKey, ChannelSettings, Job
from bot.store import Claimed, StaleJob
from storage import codec, sql
from storage.errors import PostgresFailure, StorageError, StoreClosedError, postgres_error
from storage.pg_migrations import LOCK_SPACE, SLOT_LOCK, migrate_pg

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0

_n = sql.numbered
_INSERT = _n(sql.job_insert("owner", "lease_until"))
_SAVE_FENCED = _n(sql.job_update(also_set=", lease_until = ?", also_where=" AND owner = ?"))
_SAVE_UNFENCED = _n(sql.job_update())
_RETURNED = ", ".join(f"jobs.{c}" for c in ("rowid", *codec.JOB_COLUMNS))


def _claim(takes: str) -> str:
    return (
        "WITH claimable AS ("  # noqa: S608 (constants only)
        f"SELECT id FROM jobs WHERE {sql.RESUMABLE} AND ({takes}) "
        "ORDER BY created_at, rowid FOR UPDATE SKIP LOCKED) "
        "UPDATE jobs SET owner = $1, lease_until = $3, version = jobs.version + 1 "
        f"FROM claimable WHERE jobs.id = claimable.id RETURNING {_RETURNED}"
    )


_CLAIM_AT_START = _claim(
    "owner IS NULL OR (owner <> $1 AND lease_until < $2) OR (owner = $1 AND id <> ALL($4))"
)
"""A (re)start also takes back this owner's jobs (its previous run is gone), except those
this store added itself before its first claim ($4)."""
_CLAIM_EXPIRED = _claim("owner IS NULL OR (owner <> $1 AND lease_until < $2)")
"""Later claims leave this owner's jobs alone: they run here."""
_RENEW = f"UPDATE jobs SET lease_until = $2 WHERE owner = $1 AND {sql.RESUMABLE}"  # noqa: S608


class PostgresJobStore:
    """Create with ``await PostgresJobStore.open(url, owner=...)``; close with
    ``await store.aclose()`` or ``async with``."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        *,
        location: str,
        owner: str,
        lease_seconds: float,
        clock: Clock,
    ) -> None:
        """Use :meth:`open`."""
        self._pool = pool
        self._location = location
        self._owner = owner
        self._lease = lease_seconds
        self._clock = clock
        self._added_before_claim: set[str] | None = set()
        self._closed = False

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        owner: str,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
        clock: Clock | None = None,
        max_connections: int = 10,
        connect_timeout: float = 10.0,
    ) -> PostgresJobStore:
        """Connect to ``url`` (``postgresql://…``) and migrate the database.

        :class:`StorageError` (naming the URL without its password) when the server
        cannot be reached or refuses; :class:`SchemaVersionError` if a newer version
        wrote the schema."""
        if not owner:
            raise ValueError("owner must name this replica")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        location = redact_url(url)
        try:
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                timeout=connect_timeout,
                # Names the writer in job_transitions; never the URL.
                server_settings={"application_name": owner[:63]},
            )
        except (*PostgresFailure, ValueError) as exc:
            raise _scrubbed(exc, url, location) from None
        try:
            async with pool.acquire() as conn:
                await migrate_pg(conn, location=location)
        except PostgresFailure as exc:
            await pool.close()
            raise postgres_error(exc, location=location, operation="schema migration") from exc
        except BaseException:
            await pool.close()
            raise
        return cls(
            pool,
            location=location,
            owner=owner,
            lease_seconds=lease_seconds,
            clock=clock or SystemClock(),
        )

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return self._location

    @property
    def owner(self) -> str:
        return self._owner

    @property
    def shared(self) -> bool:
        """True: other replicas may hold jobs in this database."""
        return True

    async def aclose(self) -> None:
        """Close the pool (idempotent). Leases are left to expire: another replica takes
        the unfinished jobs over then, or this owner at its next start."""
        if self._closed:
            return
        self._closed = True
        with self._guard("close", check_open=False):
            await self._pool.close()

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
        return f"<PostgresJobStore {self._location} owner={self._owner!r} {state}>"

    # -- channel scopes (per backend) and backend values ---------------------------------

    async def get_scope(self, backend: str, key: ChannelKey) -> str | None:
        with self._guard(f"get_scope({backend}, {key})"):
            value = await self._pool.fetchval(_n(sql.GET_SCOPE), *sql.key_values(key), backend)
        return None if value is None else str(value)

    async def set_scope(self, backend: str, key: ChannelKey, scope: str) -> None:
        with self._guard(f"set_scope({backend}, {key})"):
            await self._pool.execute(
                _n(sql.SET_SCOPE), backend, *sql.key_values(key), scope, self._clock.now()
            )

    async def get_value(self, name: str) -> str | None:
        with self._guard(f"get_value({name})"):
            value = await self._pool.fetchval(_n(sql.GET_VALUE), name)
        return None if value is None else str(value)

    async def set_value(self, name: str, value: str) -> None:
        with self._guard(f"set_value({name})"):
            await self._pool.execute(_n(sql.SET_VALUE), name, value, self._clock.now())

    # -- jobs ----------------------------------------------------------------------------

    async def add_job(self, job: Job) -> Job:
        """Insert ``job`` at version 1, held by this owner. ``KeyError`` if its id is taken;
        ``ValueError`` if its ``parent_job_id`` names no stored job."""
        job = replace(job, version=1)
        values = [*sql.job_row_values(job), self._owner, self._lease_end()]
        if self._added_before_claim is not None:
            self._added_before_claim.add(job.id)
        with self._guard(f"add_job({job.id})"):
            try:
                await self._pool.execute(_INSERT, *values)
            except asyncpg.UniqueViolationError as exc:
                raise KeyError(job.id) from exc
            except asyncpg.ForeignKeyViolationError as exc:
                raise ValueError(
                    f"job {job.id!r}: parent job {job.parent_job_id!r} does not exist"
                ) from exc
        return job

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        """Compare-and-set on ``job.version``; ``fenced`` also requires that this owner
        still holds the job, and extends its lease. ``StaleJob`` if the row moved on or
        changed hands; ``KeyError`` if it is gone."""
        with self._guard(f"save_job({job.id})"):
            if fenced:
                values = sql.job_update_values(job, self._lease_end())
                status = await self._pool.execute(_SAVE_FENCED, *values, self._owner)
            else:
                status = await self._pool.execute(_SAVE_UNFENCED, *sql.job_update_values(job))
            if _count(status) == 0:
                exists = await self._pool.fetchval(_n(sql.JOB_EXISTS), job.id)
                raise StaleJob(job.id) if exists else KeyError(job.id)
        return replace(job, version=job.version + 1)

    async def get_job(self, job_id: str) -> Job | None:
        """The job, or None when unknown or quarantined."""
        with self._guard(f"get_job({job_id})"):
            row = await self._pool.fetchrow(_n(sql.GET_JOB), job_id)
        return None if row is None else self._decode_jobs([row])[0]

    async def count_jobs_since(self, key: ChannelKey, requester_id: str, since: float) -> int:
        """Jobs ``requester_id`` started in ``key``'s workspace (any channel) since ``since``."""
        with self._guard(f"count_jobs_since({key.platform}:{key.workspace}, {requester_id})"):
            value = await self._pool.fetchval(
                _n(sql.COUNT_SINCE), key.platform, key.workspace, requester_id, since
            )
        return int(value)

    async def recent_jobs(self, key: ChannelKey, requester_id: str, limit: int) -> list[Job]:
        with self._guard(f"recent_jobs({key.platform}:{key.workspace}, {requester_id})"):
            rows = await self._pool.fetch(
                _n(sql.RECENT), key.platform, key.workspace, requester_id, limit
            )
        return self._decode_jobs(rows)

    async def prune_jobs(self, before: float) -> int:
        """Delete jobs created before ``before`` that need nothing more (terminal and
        announced, or quarantined), with their transition history."""
        with self._guard("prune_jobs"):
            return _count(await self._pool.execute(_n(sql.PRUNE), before))

    async def unfinished_jobs(self) -> list[Job]:
        """Every job not yet finished, whoever holds it, oldest first (read-only)."""
        with self._guard("unfinished_jobs"):
            rows = await self._pool.fetch(_n(sql.UNFINISHED_JOBS))
        return self._decode_jobs(rows)

    async def claim_unfinished(self) -> Claimed:
        """Take every resumable job (unfinished, or an ending not yet told) that nobody
        holds or whose lease expired, and at the first call of this store also this
        owner's own from before (a restart): hold them, bump their versions, return them
        oldest first. An unreadable row is quarantined and reported, as in SQLite."""
        now = self._clock.now()
        args: list[object] = [self._owner, now, now + self._lease]
        if self._added_before_claim is None:
            statement = _CLAIM_EXPIRED
        else:
            statement = _CLAIM_AT_START
            args.append(list(self._added_before_claim))
        with self._guard("claim_unfinished"):
            rows = await self._pool.fetch(statement, *args)
            self._added_before_claim = None
            rows = sorted(rows, key=lambda r: (r["created_at"], r["rowid"]))
            jobs, bad = codec.jobs_or_quarantined(rows)
            for job in bad:
                log.error(
                    "job row %r in %s is unreadable; quarantined: %s",
                    job.id,
                    self._location,
                    job.reason,
                )
                await self._pool.execute(_n(sql.QUARANTINE), job.reason, job.id)
        if jobs:
            log.info("%s claimed %d job(s)", self._owner, len(jobs))
        return Claimed(jobs, bad)

    async def renew_leases(self) -> int:
        """Extend the lease of every resumable job this owner holds; how many."""
        with self._guard("renew_leases"):
            return _count(await self._pool.execute(_RENEW, self._owner, self._lease_end()))

    # -- slots ---------------------------------------------------------------------------

    async def take_slot(
        self, job_id: str, requester: ChannelKey, requester_id: str, *, per_user: int, overall: int
    ) -> bool:
        """Grant the job a slot if the limits allow and none of the requester's older
        jobs waits, serialised across replicas by an advisory lock. ``KeyError`` if the
        job is unknown."""
        values = sql.take_slot_values(job_id, requester, requester_id, per_user, overall)
        with self._guard(f"take_slot({job_id})"):
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, SLOT_LOCK)
                if _count(await conn.execute(_n(sql.TAKE_SLOT), *values)):
                    return True
                held = await conn.fetchval(_n(sql.HAS_SLOT), job_id)
        if held is None:
            raise KeyError(job_id)
        return bool(held)

    async def queue_position(self, job_id: str) -> int | None:
        """1-based place among accepted jobs without a slot (every replica's), oldest
        first; None if the job does not wait for one."""
        with self._guard(f"queue_position({job_id})"):
            return int(await self._pool.fetchval(_n(sql.QUEUE_POSITION), job_id)) or None

    # -- channel settings ----------------------------------------------------------------

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        """The channel's overrides; an empty :class:`ChannelSettings` if none were set."""
        with self._guard(f"get_channel_settings({key})"):
            row = await self._pool.fetchrow(_n(sql.GET_SETTINGS), *sql.key_values(key))
        if row is None:
            return ChannelSettings()
        try:
            return codec.settings_from_row(row)
        except ValueError as exc:
            raise StorageError(
                f"channel settings for {key} in {self._location} are unreadable: {exc}",
                path=self._location,
                operation=f"get_channel_settings({key})",
            ) from exc

    async def set_channel_settings(self, key: ChannelKey, settings: ChannelSettings) -> None:
        values = sql.settings_values(key, settings, self._clock.now())
        with self._guard(f"set_channel_settings({key})"):
            await self._pool.execute(_n(sql.SET_SETTINGS), *values)

    # -- internals -----------------------------------------------------------------------

    def _lease_end(self) -> float:
        return self._clock.now() + self._lease

    @contextlib.contextmanager
    def _guard(self, operation: str, *, check_open: bool = True) -> Iterator[None]:
        """Refuse use after close; turn driver and socket errors into :class:`StorageError`."""
        if check_open and self._closed:
            raise StoreClosedError(
                f"job store {self._location} is closed ({operation})",
                path=self._location,
                operation=operation,
            )
        try:
            yield
        except PostgresFailure as exc:
            raise postgres_error(exc, location=self._location, operation=operation) from exc

    def _decode_jobs(self, rows: list[asyncpg.Record]) -> list[Job]:
        try:
            return [codec.job_from_row(row) for row in rows]
        except ValueError as exc:
            raise StorageError(
                f"a job row in {self._location} is unreadable: {exc}",
                path=self._location,
                operation="decode job",
            ) from exc


def _count(status: str) -> int:
    """Rows a command touched, from its status (``"UPDATE 3"``, ``"DELETE 0"``)."""
    return int(status.rsplit(" ", 1)[-1])


_SECRET_PARAMS = re.compile(r"(?i)(^|&)(\w*password)=([^&]*)")


def redact_url(url: str) -> str:
    """``url`` with its password (and any ``…password=`` parameter) replaced by ``***``."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable database URL>"
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, hostport = netloc.rpartition("@")
        user, has_password, _ = userinfo.partition(":")
        netloc = f"{user}:***@{hostport}" if has_password else f"{user}@{hostport}"
    query = _SECRET_PARAMS.sub(r"\1\2=***", parts.query)
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def _secrets_of(url: str) -> list[str]:
    try:
        parts = urlsplit(url)
    except ValueError:
        return [url]
    found = [m.group(3) for m in _SECRET_PARAMS.finditer(parts.query)]
    userinfo = parts.netloc.rpartition("@")[0]
    if ":" in userinfo:
        found.append(userinfo.partition(":")[2])
    return [s for raw in found if raw for s in {raw, unquote(raw)}]


def _scrubbed(exc: BaseException, url: str, location: str) -> StorageError:
    """A failed connect as :class:`StorageError`, with any trace of a secret removed."""
    error = postgres_error(exc, location=location, operation="connect")
    message = str(error)
    for secret in sorted(_secrets_of(url), key=len, reverse=True):
        message = message.replace(secret, "***")
    return StorageError(message, path=location, operation="connect", code=error.code)
