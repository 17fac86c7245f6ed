"""The versioned schema: ordered migration steps, applied at startup.

The version lives in ``PRAGMA user_version`` (0 = empty file). Each step runs in its own
``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-upgrade
leaves the previous version intact, and two processes opening the same file at once
cannot both apply a step. Never edit a shipped step; append a new one.

PostgreSQL has its own list (:mod:`storage.pg_migrations`, its own numbering, started at
this file's version 5). A schema change is one new step at the end of *each* list, in
its dialect, shipped together; ``tests/storage/test_migrations.py`` checks that both
schemas end up with the columns :mod:`storage.codec` maps.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass

import aiosqlite

from storage.errors import SchemaVersionError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        1,
        "channel→project map and jobs",
        (
            """
            CREATE TABLE channel_projects (
                platform   TEXT NOT NULL,
                workspace  TEXT NOT NULL,
                channel    TEXT NOT NULL,
                project_id TEXT NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (platform, workspace, channel)
            )
            """,
            """
            CREATE TABLE jobs (
                id                 TEXT PRIMARY KEY NOT NULL,
                platform           TEXT NOT NULL,
                workspace          TEXT NOT NULL,
                channel            TEXT NOT NULL,
                thread             TEXT,
                status_message_id  TEXT,
                requester_id       TEXT NOT NULL,
                requester_name     TEXT NOT NULL,
                prompt             TEXT NOT NULL,
                params             TEXT NOT NULL,
                state              TEXT NOT NULL,
                project_id         TEXT,
                file_ids           TEXT NOT NULL DEFAULT '[]',
                result_urls        TEXT NOT NULL DEFAULT '[]',
                posted_message_ids TEXT NOT NULL DEFAULT '[]',
                attempts           INTEGER NOT NULL DEFAULT 0,
                error              TEXT,
                parent_job_id      TEXT REFERENCES jobs (id) ON DELETE SET NULL,
                created_at         REAL NOT NULL,
                updated_at         REAL NOT NULL
            )
            """,
        ),
    ),
    Migration(
        2,
        "per-channel settings; index jobs by state for resume",
        (
            """
            CREATE TABLE channel_settings (
                platform   TEXT NOT NULL,
                workspace  TEXT NOT NULL,
                channel    TEXT NOT NULL,
                width      INTEGER,
                height     INTEGER,
                steps      INTEGER,
                style      TEXT,
                extra      TEXT NOT NULL DEFAULT '{}',
                updated_at REAL NOT NULL,
                PRIMARY KEY (platform, workspace, channel)
            )
            """,
            "CREATE INDEX jobs_by_state ON jobs (state, created_at)",
        ),
    ),
    Migration(
        3,
        "index jobs by requester for the per-user rate limit",
        ("CREATE INDEX jobs_by_requester ON jobs (platform, workspace, requester_id, created_at)",),
    ),
    Migration(
        4,
        "backend-neutral jobs: versions, tickets/handles, results, notices, lineage; "
        "channel scopes per backend; backend values",
        (
            "ALTER TABLE jobs ADD COLUMN version INTEGER NOT NULL DEFAULT 1",
            "ALTER TABLE jobs ADD COLUMN backend TEXT NOT NULL DEFAULT 'superduper'",
            "ALTER TABLE jobs ADD COLUMN scope TEXT",
            "ALTER TABLE jobs ADD COLUMN submission TEXT",
            "ALTER TABLE jobs ADD COLUMN results TEXT NOT NULL DEFAULT '[]'",
            "ALTER TABLE jobs ADD COLUMN notified INTEGER NOT NULL DEFAULT 0",
            "ALTER TABLE jobs ADD COLUMN parent_index INTEGER",
            "ALTER TABLE jobs ADD COLUMN action TEXT",
            "ALTER TABLE jobs ADD COLUMN cancelled_by TEXT",
            "ALTER TABLE jobs ADD COLUMN deleted_by TEXT",
            # A v3 job at project_ready had its project: now "prepared" with that scope.
            "UPDATE jobs SET state = 'prepared' WHERE state = 'project_ready'",
            "UPDATE jobs SET scope = project_id",
            # Submitted SuperDuper jobs: their handle (see bot/backend/superduper/handles.py).
            """
            UPDATE jobs SET submission = json_object(
                'project_id', project_id, 'key', 'imagine-bot:' || id,
                'file_ids', json(file_ids))
            WHERE state IN ('submitted', 'completed', 'posted')
            """,
            """
            UPDATE jobs SET results = (
                SELECT json_group_array(json_object(
                    'url', value, 'seed', NULL, 'content_type', NULL, 'error', NULL))
                FROM json_each(jobs.result_urls))
            """,
            # Finished before this version: their requester was told (or never will be).
            "UPDATE jobs SET notified = 1 WHERE state IN "
            "('posted', 'failed', 'timed_out', 'undeliverable')",
            "UPDATE jobs SET action = 'reroll' WHERE parent_job_id IS NOT NULL",
            "ALTER TABLE jobs DROP COLUMN project_id",
            "ALTER TABLE jobs DROP COLUMN file_ids",
            "ALTER TABLE jobs DROP COLUMN result_urls",
            """
            CREATE TABLE channel_scopes (
                backend    TEXT NOT NULL,
                platform   TEXT NOT NULL,
                workspace  TEXT NOT NULL,
                channel    TEXT NOT NULL,
                scope      TEXT NOT NULL,
                updated_at REAL NOT NULL,
                PRIMARY KEY (backend, platform, workspace, channel)
            )
            """,
            """
            INSERT INTO channel_scopes (backend, platform, workspace, channel, scope, updated_at)
            SELECT 'superduper', platform, workspace, channel, project_id, updated_at
            FROM channel_projects
            """,
            "DROP TABLE channel_projects",
            "ALTER TABLE channel_settings ADD COLUMN backend TEXT",
            """
            CREATE TABLE backend_values (
                name       TEXT PRIMARY KEY NOT NULL,
                value      TEXT NOT NULL,
                updated_at REAL NOT NULL
            )
            """,
            "CREATE INDEX jobs_by_parent ON jobs (parent_job_id)",
        ),
    ),
    Migration(
        5,
        "slots in the store: which jobs hold one (jobs past accepted already do)",
        (
            "ALTER TABLE jobs ADD COLUMN has_slot INTEGER NOT NULL DEFAULT 0",
            "UPDATE jobs SET has_slot = 1 "
            "WHERE state IN ('prepared', 'submitting', 'submitted', 'completed')",
            "CREATE INDEX jobs_holding_slots ON jobs (platform, workspace, requester_id) "
            "WHERE has_slot",
            "CREATE INDEX jobs_waiting ON jobs (created_at) "
            "WHERE state = 'accepted' AND NOT has_slot",
        ),
    ),
)

LATEST_VERSION = MIGRATIONS[-1].version


async def schema_version(db: aiosqlite.Connection) -> int:
    rows = list(await db.execute_fetchall("PRAGMA user_version"))
    return int(rows[0][0])


async def migrate(
    db: aiosqlite.Connection,
    *,
    path: str,
    target: int | None = None,
    migrations: Sequence[Migration] = MIGRATIONS,
) -> int:
    """Bring the database up to ``target`` (default: the latest); return the version.

    ``db`` must be in autocommit mode (``isolation_level=None``). Raises
    :class:`SchemaVersionError` if the file is newer than ``migrations`` know.
    """
    check_sequence(migrations)
    latest = migrations[-1].version if migrations else 0
    goal = latest if target is None else target
    if not 0 <= goal <= latest:
        raise ValueError(f"target version {goal} outside 0..{latest}")

    current = await schema_version(db)
    if current > latest:
        raise SchemaVersionError(path=path, found=current, latest=latest)
    for step in migrations:
        if step.version <= current or step.version > goal:
            continue
        await db.execute("BEGIN IMMEDIATE")
        try:
            # Re-read under the write lock: another process may have migrated meanwhile.
            current = await schema_version(db)
            if current > latest:
                raise SchemaVersionError(path=path, found=current, latest=latest)
            if step.version > current:
                for statement in step.statements:
                    await db.execute(statement)
                # PRAGMA takes no bound parameters; the value is an int from our own table.
                await db.execute(f"PRAGMA user_version = {int(step.version)}")
            await db.execute("COMMIT")
        except BaseException:
            # SQLite may already have rolled back (e.g. on SQLITE_FULL); keep the real error.
            with contextlib.suppress(sqlite3.OperationalError):
                await db.execute("ROLLBACK")
            raise
        current = max(current, step.version)
    return current


def check_sequence(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")
