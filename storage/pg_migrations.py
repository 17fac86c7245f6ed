"""The PostgreSQL schema: ordered steps like :mod:`storage.migrations`, its own numbering.

Version 1 is SQLite's version 5 plus what replicas need: ``owner`` / ``lease_until`` (who
holds a job, until when, by that replica's clock), ``rowid`` (insertion order, named as in
SQLite so both stores share their SQL) and ``job_transitions``, filled by a trigger with
every change of a job's version, state or owner (a lease renewal alone is none), and
emptied with the jobs it describes.

The version is the highest row of ``schema_migrations``. Each step runs in one transaction
together with that row, under a transaction-scoped advisory lock, so replicas starting at
once apply it exactly once and a failed step leaves the previous version. Never edit a
shipped step: append one here and its counterpart in :mod:`storage.migrations`."""

from __future__ import annotations

from collections.abc import Sequence

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from storage.errors import SchemaVersionError
from storage.migrations import Migration, check_sequence

LOCK_SPACE = 0x1A61
"""First key of this program's advisory locks (the second names the lock)."""
MIGRATION_LOCK = 1
SLOT_LOCK = 2

_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_migrations (
        version     integer PRIMARY KEY,
        description text NOT NULL,
        applied_at  timestamptz NOT NULL DEFAULT now()
    )
"""

PG_MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "jobs with owners and leases, slots, transition history; channel scopes, "
        "channel settings, backend values (SQLite schema 5)",
        (
            """
            CREATE TABLE jobs (
                rowid              bigint GENERATED ALWAYS AS IDENTITY UNIQUE,
                id                 text PRIMARY KEY,
                platform           text NOT NULL,
                workspace          text NOT NULL,
                channel            text NOT NULL,
                thread             text,
                status_message_id  text,
                requester_id       text NOT NULL,
                requester_name     text NOT NULL,
                prompt             text NOT NULL,
                params             text NOT NULL,
                state              text NOT NULL,
                version            bigint NOT NULL DEFAULT 1,
                backend            text NOT NULL DEFAULT 'superduper',
                scope              text,
                submission         text,
                results            text NOT NULL DEFAULT '[]',
                posted_message_ids text NOT NULL DEFAULT '[]',
                attempts           integer NOT NULL DEFAULT 0,
                error              text,
                notified           boolean NOT NULL DEFAULT FALSE,
                parent_job_id      text REFERENCES jobs (id) ON DELETE SET NULL,
                parent_index       integer,
                action             text,
                cancelled_by       text,
                deleted_by         text,
                created_at         double precision NOT NULL,
                updated_at         double precision NOT NULL,
                owner              text,
                lease_until        double precision,
                has_slot           boolean NOT NULL DEFAULT FALSE
            )
            """,
            "CREATE INDEX jobs_by_state ON jobs (state, created_at)",
            "CREATE INDEX jobs_by_requester ON jobs "
            "(platform, workspace, requester_id, created_at)",
            "CREATE INDEX jobs_by_parent ON jobs (parent_job_id)",
            """
            CREATE INDEX jobs_resumable ON jobs (owner, lease_until) WHERE
                (state IN ('accepted', 'completed', 'prepared', 'submitted', 'submitting')
                 OR (NOT notified AND state IN
                     ('cancelled', 'failed', 'posted', 'timed_out', 'undeliverable')))
            """,
            "CREATE INDEX jobs_holding_slots ON jobs (platform, workspace, requester_id) "
            "WHERE has_slot",
            "CREATE INDEX jobs_waiting ON jobs (created_at, rowid) "
            "WHERE state = 'accepted' AND NOT has_slot",
            """
            CREATE TABLE job_transitions (
                seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
                job_id      text NOT NULL,
                old_version bigint NOT NULL,
                new_version bigint NOT NULL,
                old_state   text NOT NULL,
                new_state   text NOT NULL,
                old_owner   text,
                new_owner   text,
                writer      text NOT NULL,
                at          timestamptz NOT NULL DEFAULT clock_timestamp()
            )
            """,
            "CREATE INDEX job_transitions_by_job ON job_transitions (job_id, seq)",
            """
            CREATE FUNCTION record_job_transition() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                INSERT INTO job_transitions (job_id, old_version, new_version, old_state,
                                             new_state, old_owner, new_owner, writer)
                VALUES (NEW.id, OLD.version, NEW.version, OLD.state, NEW.state, OLD.owner,
                        NEW.owner, current_setting('application_name'));
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER jobs_record_transition AFTER UPDATE ON jobs FOR EACH ROW
            WHEN (OLD.version IS DISTINCT FROM NEW.version OR OLD.state IS DISTINCT FROM
                  NEW.state OR OLD.owner IS DISTINCT FROM NEW.owner)
            EXECUTE FUNCTION record_job_transition()
            """,
            """
            CREATE FUNCTION forget_job_transitions() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                DELETE FROM job_transitions WHERE job_id IN (SELECT id FROM gone);
                RETURN NULL;
            END $$
            """,
            """
            CREATE TRIGGER jobs_forget_transitions AFTER DELETE ON jobs
            REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
            EXECUTE FUNCTION forget_job_transitions()
            """,
            """
            CREATE TABLE channel_scopes (
                backend    text NOT NULL,
                platform   text NOT NULL,
                workspace  text NOT NULL,
                channel    text NOT NULL,
                scope      text NOT NULL,
                updated_at double precision NOT NULL,
                PRIMARY KEY (backend, platform, workspace, channel)
            )
            """,
            """
            CREATE TABLE channel_settings (
                platform   text NOT NULL,
                workspace  text NOT NULL,
                channel    text NOT NULL,
                width      integer,
                height     integer,
                steps      integer,
                style      text,
                backend    text,
                extra      text NOT NULL DEFAULT '{}',
                updated_at double precision NOT NULL,
                PRIMARY KEY (platform, workspace, channel)
            )
            """,
            """
            CREATE TABLE backend_values (
                name       text PRIMARY KEY,
                value      text NOT NULL,
                updated_at double precision NOT NULL
            )
            """,
        ),
    ),
)

PG_LATEST_VERSION = PG_MIGRATIONS[-1].version

Connection = asyncpg.Connection | PoolConnectionProxy


async def pg_schema_version(conn: Connection) -> int:
    """The applied version; 0 for an empty database."""
    if await conn.fetchval("SELECT to_regclass('schema_migrations')") is None:
        return 0
    return int(await conn.fetchval("SELECT coalesce(max(version), 0) FROM schema_migrations"))


async def migrate_pg(
    conn: Connection,
    *,
    location: str,
    target: int | None = None,
    migrations: Sequence[Migration] = PG_MIGRATIONS,
) -> int:
    """Bring the database up to ``target`` (default: the latest); return the version.
    :class:`SchemaVersionError` if it is newer than ``migrations`` know."""
    check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    goal = latest if target is None else target
    if not 0 <= goal <= latest:
        raise ValueError(f"target version {goal} outside 0..{latest}")

    current = await pg_schema_version(conn)
    for step in migrations:
        if current > latest:
            break
        if step.version <= current or step.version > goal:
            continue
        async with conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, $2)", LOCK_SPACE, MIGRATION_LOCK)
            await conn.execute(_VERSION_TABLE)
            # Re-read under the lock: another replica may have migrated meanwhile.
            current = await pg_schema_version(conn)
            if step.version == current + 1:
                for statement in step.statements:
                    await conn.execute(statement)
                await conn.execute(
                    "INSERT INTO schema_migrations (version, description) VALUES ($1, $2)",
                    step.version,
                    step.description,
                )
                current = step.version
    if current > latest:
        raise SchemaVersionError(
            path=location,
            found=current,
            latest=latest,
            elsewhere="IMAGINE_DATABASE_URL at another database",
        )
    return current
