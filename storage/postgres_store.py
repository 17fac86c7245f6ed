"""``bot.store.JobStore`` on PostgreSQL through one asyncpg pool, for several replicas.

Each replica opens the store with its ``owner`` id. A job belongs to the replica that
added or claimed it, for ``lease_seconds`` past its last fenced write or heartbeat
(:meth:`renew_leases`). A fenced write requires ``owner = me`` and the version read; a
claim (``FOR UPDATE SKIP LOCKED``) takes jobs that are unowned, expired, or (at a
restart) this owner's, and bumps their version, so a replica that lost a job can no
longer write it. Lease times come from the store's clock: keep replicas' clocks in sync
(NTP) to well within ``lease_seconds``, and renew every ``lease_seconds / 3`` or so. An
``owner`` that stays the same across a replica's restarts (a pod or host name) takes its
jobs back at once; a new one per start works too, its old jobs then wait out the lease.

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

import asyncio
import logging
import re
from collections.abc import Sequence
from dataclasses import replace
from urllib.parse import unquote, urlsplit, urlunsplit

import asyncpg

from bot.clock import Clock, SystemClock
from bot.jobs import Job
from bot.store import Claimed
from storage import codec, sql
from storage.base import SqlJobStore
from storage.errors import PostgresFailure, ReplicaInUseError, StorageError, postgres_error
from storage.pg_migrations import LOCK_SPACE, SLOT_LOCK, migrate_pg

log = logging.getLogger(__name__)

DEFAULT_LEASE_SECONDS = 30.0

_n = sql.numbered
_INSERT = _n(sql.job_insert("owner", "lease_until"))
_SAVE_FENCED = _n(sql.job_update(also_set=", lease_until = ?", also_where=" AND owner = ?"))
_SAVE_UNFENCED = _n(sql.job_update(also_set=", owner = ?, lease_until = ?"))
"""Any replica may write a job unfenced (a Cancel press); it then holds the job, so it is
the one that announces what it wrote, and the previous holder's next write is refused."""
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
_RENEW = f"UPDATE jobs SET lease_until = $2 WHERE owner = $1 AND {sql.RESUMABLE} RETURNING id"  # noqa: S608


_HOLD_OWNER = "SELECT pg_try_advisory_lock(hashtextextended($1, $2))"
"""One process per owner id: a session-level lock on the id's hash (a one-key lock, so
never the same lock as the two-key ones in ``pg_migrations``), gone with the session."""
OWNER_WAIT = 5.0
"""How long a start waits for the session of a killed process with its id to end (the
server notices a killed client's closed socket at once; a vanished host takes longer)."""


class PostgresJobStore(SqlJobStore):
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
        owner_lock: asyncpg.Connection,
    ) -> None:
        """Use :meth:`open`."""
        super().__init__(statements=sql.POSTGRES, where=location, clock=clock)
        self._pool = pool
        self._owner_lock = owner_lock
        self._owner = owner
        self._lease = lease_seconds
        self._added_before_claim: set[str] | None = set()

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
        owner_wait: float = OWNER_WAIT,
    ) -> PostgresJobStore:
        """Connect to ``url`` (``postgresql://…``) and migrate the database.

        :class:`StorageError` (naming the URL without its password) when the server
        cannot be reached or refuses; :class:`SchemaVersionError` if a newer version
        wrote the schema; :class:`ReplicaInUseError` while another process runs as
        ``owner``."""
        if not owner:
            raise ValueError("owner must name this replica")
        if lease_seconds <= 0:
            raise ValueError("lease_seconds must be positive")
        location = redact_url(url)
        # Names the writer in job_transitions; never the URL.
        session = {"application_name": owner[:63]}
        try:
            owner_lock = await asyncpg.connect(
                url, timeout=connect_timeout, server_settings=session
            )
        except (*PostgresFailure, ValueError) as exc:
            raise _scrubbed(exc, url, location) from None
        try:
            await _hold_owner(owner_lock, owner, location, owner_wait)
            pool = await asyncpg.create_pool(
                url,
                min_size=1,
                max_size=max_connections,
                timeout=connect_timeout,
                server_settings=session,
            )
        except BaseException as exc:
            await owner_lock.close()
            if isinstance(exc, (*PostgresFailure, ValueError)):
                raise _scrubbed(exc, url, location) from None
            raise
        try:
            async with pool.acquire() as conn:
                await migrate_pg(conn, location=location)
        except PostgresFailure as exc:
            await pool.close()
            await owner_lock.close()
            raise postgres_error(exc, location=location, operation="schema migration") from exc
        except BaseException:
            await pool.close()
            await owner_lock.close()
            raise
        return cls(
            pool,
            location=location,
            owner=owner,
            lease_seconds=lease_seconds,
            clock=clock or SystemClock(),
            owner_lock=owner_lock,
        )

    @property
    def location(self) -> str:
        """The database URL without its password."""
        return self._where

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
            try:
                await self._pool.close()
            finally:
                await self._owner_lock.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<PostgresJobStore {self._where} owner={self._owner!r} {state}>"

    async def add_job(self, job: Job) -> Job:
        """Insert ``job`` at version 1, held by this owner. ``KeyError`` if its id is taken;
        ``ValueError`` if its ``parent_job_id`` names no stored job."""
        job = replace(job, version=1)
        if self._added_before_claim is not None:
            self._added_before_claim.add(job.id)
        with self._guard(f"add_job({job.id})"):
            try:
                await self._execute(
                    _INSERT, *sql.job_row_values(job), self._owner, self._lease_end()
                )
            except asyncpg.UniqueViolationError as exc:
                raise KeyError(job.id) from exc
            except asyncpg.ForeignKeyViolationError as exc:
                raise ValueError(
                    f"job {job.id!r}: parent job {job.parent_job_id!r} does not exist"
                ) from exc
        return job

    async def claim_unfinished(self) -> Claimed:
        """Take every resumable job (unfinished, or an ending not yet told) that nobody
        holds or whose lease expired, and at the first call of this store also this
        owner's own from before (a restart): hold them, bump their versions, return them
        oldest first. An unreadable row is quarantined and reported, as in SQLite."""
        claimed = await super().claim_unfinished()
        if claimed.jobs:
            log.info("%s claimed %d job(s)", self._owner, len(claimed.jobs))
        return claimed

    async def renew_leases(self) -> frozenset[str]:
        """Extend the lease of every resumable job this owner holds; their ids."""
        with self._guard("renew_leases"):
            rows = await self._fetch(_RENEW, self._owner, self._lease_end())
        return frozenset(row["id"] for row in rows)

    # -- the dialect's part --------------------------------------------------------------

    async def _execute(self, statement: str, *args: object) -> int:
        return _count(await self._pool.execute(statement, *args))

    async def _fetch(self, statement: str, *args: object) -> Sequence[asyncpg.Record]:
        return await self._pool.fetch(statement, *args)

    def _failure(self, exc: Exception, operation: str) -> StorageError | None:
        if not isinstance(exc, PostgresFailure):
            return None
        return postgres_error(exc, location=self._where, operation=operation)

    async def _rows_to_claim(self) -> Sequence[asyncpg.Record]:
        now = self._clock.now()
        args: list[object] = [self._owner, now, now + self._lease]
        if self._added_before_claim is None:
            statement = _CLAIM_EXPIRED
        else:
            statement = _CLAIM_AT_START
            args.append(list(self._added_before_claim))
        rows = await self._fetch(statement, *args)
        self._added_before_claim = None
        return sorted(rows, key=lambda r: (r["created_at"], r["rowid"]))

    async def _grant_slot(self, values: list[object]) -> bool:
        """Under the slot lock: the counts the grant depends on are read after the last
        grant committed, on any replica."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, SLOT_LOCK)
            return _count(await conn.execute(self._sql.take_slot, *values)) > 0

    def _save(self, job: Job, fenced: bool) -> tuple[str, list[object]]:
        if fenced:
            return _SAVE_FENCED, [*sql.job_update_values(job, self._lease_end()), self._owner]
        return _SAVE_UNFENCED, sql.job_update_values(job, self._owner, self._lease_end())

    def _lease_end(self) -> float:
        return self._clock.now() + self._lease


async def _hold_owner(conn: asyncpg.Connection, owner: str, location: str, wait: float) -> None:
    """Take the owner id's lock, waiting up to ``wait`` seconds for a killed process's
    session to end; :class:`ReplicaInUseError` if a live one keeps it."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + wait
    while not await conn.fetchval(_HOLD_OWNER, owner, LOCK_SPACE):
        if loop.time() >= deadline:
            raise ReplicaInUseError(owner=owner, location=location)
        await asyncio.sleep(0.1)  # the server ends a dead client's session on its own


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


def url_secrets(url: str) -> list[str]:
    """The secrets a database URL carries (its password, ``…password=`` parameters), as
    written and percent-decoded: for a log redactor."""
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
    for secret in sorted(url_secrets(url), key=len, reverse=True):
        message = message.replace(secret, "***")
    return StorageError(message, path=location, operation="connect", code=error.code)
