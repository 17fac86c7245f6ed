"""Schema versions on both databases: fresh ones, upgrades keeping data, refusing newer
ones, one schema in two dialects."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosqlite
import asyncpg
import pytest

from bot.backend.superduper.handles import Submission
from bot.chat import ActionKind
from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from storage import SchemaVersionError, SqliteJobStore, StorageError, codec, redact_url
from storage.migrations import LATEST_VERSION, MIGRATIONS, Migration, migrate
from storage.pg_migrations import PG_LATEST_VERSION, PG_MIGRATIONS, migrate_pg, pg_schema_version
from tests.storage.conftest import Database, PostgresDatabase

MakeJob = Callable[..., Job]


@contextlib.contextmanager
def raw(path: Path) -> Iterator[sqlite3.Connection]:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        yield conn
    finally:
        conn.close()


def user_version(path: Path) -> int:
    with raw(path) as conn:
        return int(conn.execute("PRAGMA user_version").fetchone()[0])


def objects(path: Path) -> set[str]:
    with raw(path) as conn:
        rows = conn.execute(
            "SELECT name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'"
        ).fetchall()
    return {r[0] for r in rows}


def test_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(1, len(MIGRATIONS) + 1))
    assert LATEST_VERSION == len(MIGRATIONS) >= 2


@pytest.fixture
def empty_file(db_path: Path) -> Path:
    """An existing, zero-byte file (e.g. created by a deployment script)."""
    db_path.touch()
    assert db_path.stat().st_size == 0
    return db_path


async def test_empty_file_upgrades_to_latest(empty_file: Path, db_path: Path) -> None:
    async with await SqliteJobStore.open(db_path) as store:
        assert (await store.diagnostics()).schema_version == LATEST_VERSION

    assert user_version(db_path) == LATEST_VERSION
    assert {"jobs", "channel_scopes", "channel_settings", "backend_values", "jobs_by_state"} <= (
        objects(db_path)
    )
    assert "channel_projects" not in objects(db_path)


V1_COLUMNS = (
    "id, platform, workspace, channel, thread, status_message_id, requester_id, "
    "requester_name, prompt, params, state, project_id, file_ids, result_urls, "
    "posted_message_ids, attempts, error, parent_job_id, created_at, updated_at"
)
PARAMS = (
    '{"prompt": "a fox", "width": 512, "height": 512, "steps": 20, "style": "default", "seed": 7}'
)


def v1_row(job_id: str, state: str, **values: object) -> tuple[object, ...]:
    row: dict[str, object] = {
        "thread": "T1",
        "status_message_id": "S1",
        "project_id": None,
        "file_ids": "[]",
        "result_urls": "[]",
        "posted_message_ids": "[]",
        "error": None,
        "parent_job_id": None,
        **values,
    }
    return (
        job_id, "discord", "guild-1", "chan-1", row["thread"], row["status_message_id"], "u-1",
        "Ada", "a fox", PARAMS, state, row["project_id"], row["file_ids"], row["result_urls"],
        row["posted_message_ids"], 0, row["error"], row["parent_job_id"], 1.0, 2.0,
    )  # fmt: skip


async def test_a_v1_file_with_data_upgrades_to_neutral_jobs_and_keeps_them(
    db_path: Path,
) -> None:
    """Every v1-v3 job keeps its place: project_ready becomes prepared with its project as
    scope; submitted jobs get the SuperDuper handle their file ids belong to; results
    keep their URLs; old endings count as told; the channel map becomes scopes."""
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        assert await migrate(db, path=str(db_path), target=1) == 1
        rows = [
            v1_row("ready1", "project_ready", project_id="p-1"),
            v1_row("subm01", "submitted", project_id="p-1", file_ids='["f1", "f2"]'),
            v1_row(
                "done01",
                "completed",
                project_id="p-1",
                file_ids='["f3"]',
                result_urls='["http://svc/media/f3.png"]',
            ),
            v1_row("post01", "posted", posted_message_ids='["m1"]'),
            v1_row("fail01", "failed", error="boom"),
            v1_row("rrol01", "accepted", parent_job_id="post01"),
        ]
        marks = ", ".join("?" for _ in range(20))
        await db.executemany(f"INSERT INTO jobs ({V1_COLUMNS}) VALUES ({marks})", rows)  # noqa: S608
        await db.execute(
            "INSERT INTO channel_projects VALUES ('discord', 'guild-1', 'chan-1', 'p-1', 1.0)"
        )
    assert user_version(db_path) == 1
    assert "channel_settings" not in objects(db_path)

    async with await SqliteJobStore.open(db_path) as store:
        assert (await store.diagnostics()).schema_version == LATEST_VERSION
        jobs = {j: await store.get_job(j) for j in ("ready1", "subm01", "done01", "post01")}
        ready, submitted, done, posted = (jobs[j] for j in jobs)
        assert ready is not None and (ready.state, ready.scope) == (JobState.PREPARED, "p-1")
        assert submitted is not None and submitted.state is JobState.SUBMITTED
        handle = Submission.from_json(submitted.submission or "")
        assert (handle.project_id, handle.file_ids) == ("p-1", ("f1", "f2"))
        assert handle.key == "imagine-bot:subm01"
        assert done is not None and [r.url for r in done.results] == ["http://svc/media/f3.png"]
        assert posted is not None and posted.notified and posted.posted_message_ids == ("m1",)
        reroll = await store.get_job("rrol01")
        assert reroll is not None and reroll.action is ActionKind.REROLL
        assert reroll.parent_job_id == "post01" and reroll.version == 1
        claimed = await store.claim_unfinished()
        assert [j.id for j in claimed.jobs] == ["ready1", "subm01", "done01", "rrol01"]
        key = ChannelKey("discord", "guild-1", "chan-1")
        assert await store.get_scope("superduper", key) == "p-1"
        # The v2 table works on the upgraded file.
        await store.set_channel_settings(key, ChannelSettings(width=640))
        assert await store.get_channel_settings(key) == ChannelSettings(width=640)

    assert "jobs_by_state" in objects(db_path)


async def test_newer_file_is_refused_with_a_clear_error(db_path: Path) -> None:
    async with await SqliteJobStore.open(db_path):
        pass
    with raw(db_path) as conn:
        conn.execute(f"PRAGMA user_version = {LATEST_VERSION + 5}")

    with pytest.raises(SchemaVersionError) as info:
        await SqliteJobStore.open(db_path)

    message = str(info.value)
    assert str(db_path) in message
    assert f"schema version {LATEST_VERSION + 5}" in message
    assert f"up to {LATEST_VERSION}" in message
    assert "upgrade imagine-bot" in message
    assert isinstance(info.value, StorageError)
    assert user_version(db_path) == LATEST_VERSION + 5  # left untouched


async def test_failed_step_leaves_previous_version_intact(db_path: Path) -> None:
    broken = (
        *MIGRATIONS[:1],
        Migration(2, "broken", ("CREATE TABLE half_done (x)", "THIS IS NOT SQL")),
    )
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        with pytest.raises(sqlite3.OperationalError):
            await migrate(db, path=str(db_path), migrations=broken)
    assert user_version(db_path) == 1
    assert "half_done" not in objects(db_path)

    # The real code then upgrades the same file normally.
    async with await SqliteJobStore.open(db_path) as store:
        assert (await store.diagnostics()).schema_version == LATEST_VERSION


async def test_several_processes_opening_a_fresh_database_at_once(
    database: Database, make_job: MakeJob
) -> None:
    stores = await asyncio.gather(*(database.open(owner=f"replica-{n}") for n in range(4)))
    async with contextlib.AsyncExitStack() as stack:
        for store in stores:
            await stack.enter_async_context(store)
        for n, store in enumerate(stores):
            await store.add_job(make_job(f"job{n}"))
        for store in stores:
            assert len(await store.unfinished_jobs()) == 4
    latest = LATEST_VERSION if database.name == "sqlite" else PG_LATEST_VERSION
    assert await database.schema_version() == latest


# -- PostgreSQL ----------------------------------------------------------------------------


def test_pg_migrations_are_numbered_in_order() -> None:
    assert [m.version for m in PG_MIGRATIONS] == list(range(1, len(PG_MIGRATIONS) + 1))


async def test_pg_fresh_database_gets_the_latest_schema(pg: PostgresDatabase) -> None:
    async with await pg.open():
        pass
    rows = await pg.fetch("SELECT version FROM schema_migrations ORDER BY version")
    assert [r["version"] for r in rows] == list(range(1, PG_LATEST_VERSION + 1))
    tables = {
        r["tablename"]
        for r in await pg.fetch("SELECT tablename FROM pg_tables WHERE schemaname = 'public'")
    }
    assert {"jobs", "job_transitions", "channel_scopes", "channel_settings", "backend_values"} <= (
        tables
    )


async def test_pg_newer_database_is_refused_with_a_clear_error(pg: PostgresDatabase) -> None:
    async with await pg.open():
        pass
    await pg.fetch(
        "INSERT INTO schema_migrations VALUES ($1, 'from the future')", PG_LATEST_VERSION + 5
    )

    with pytest.raises(SchemaVersionError) as info:
        await pg.open()

    message = str(info.value)
    assert f"schema version {PG_LATEST_VERSION + 5}" in message
    assert f"up to {PG_LATEST_VERSION}" in message
    assert "IMAGINE_DATABASE_URL" in message
    assert redact_url(pg.url) in message


async def test_pg_failed_step_leaves_previous_version_intact(pg: PostgresDatabase) -> None:
    broken = (
        *PG_MIGRATIONS[:1],
        Migration(2, "broken", ("CREATE TABLE half_done (x int)", "THIS IS NOT SQL")),
    )
    conn = await asyncpg.connect(pg.url)
    try:
        with pytest.raises(asyncpg.PostgresSyntaxError):
            await migrate_pg(conn, location="test", migrations=broken)
        assert await pg_schema_version(conn) == 1
        assert await conn.fetchval("SELECT to_regclass('half_done')") is None
    finally:
        await conn.close()
    async with await pg.open():  # the real code still opens it
        pass


async def test_both_schemas_hold_what_the_codec_maps(
    sqlite_store: SqliteJobStore, db_path: Path, pg: PostgresDatabase
) -> None:
    """The two migration lists describe one schema (plus PostgreSQL's lease columns)."""
    async with await pg.open():
        pass
    with raw(db_path) as conn:
        lite = {
            table: {r[1] for r in conn.execute(f"PRAGMA table_info({table})")}
            for table in ("jobs", "channel_scopes", "channel_settings", "backend_values")
        }
    rows = await pg.fetch(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = 'public'"
    )
    postgres: dict[str, set[str]] = {}
    for row in rows:
        postgres.setdefault(row["table_name"], set()).add(row["column_name"])

    assert {*codec.JOB_COLUMNS, "has_slot"} == lite["jobs"]
    assert lite["jobs"] | {"rowid", "owner", "lease_until"} == postgres["jobs"]
    for table in ("channel_scopes", "channel_settings", "backend_values"):
        assert lite[table] == postgres[table], table
