"""The versioned schema: ordered migration steps, applied at startup.

The version lives in ``PRAGMA user_version`` (0 = empty file). Each step runs in its own
``BEGIN IMMEDIATE`` transaction together with the version bump, so a crash mid-upgrade
leaves the previous version intact, and two processes opening the same file at once
cannot both apply a step. Never edit a shipped step; append a new one.
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
    _check_sequence(migrations)
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


def _check_sequence(migrations: Sequence[Migration]) -> None:
    versions = [m.version for m in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise ValueError(f"migration versions must be 1..n in order, got {versions}")
