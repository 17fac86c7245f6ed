"""Schema versions: fresh files, upgrades keeping data, refusing newer files."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import Callable, Iterator
from pathlib import Path

import aiosqlite
import pytest

from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from storage import SchemaVersionError, SqliteJobStore, StorageError
from storage.codec import JOB_COLUMNS, job_to_row
from storage.migrations import LATEST_VERSION, MIGRATIONS, Migration, migrate

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
    assert {"jobs", "channel_projects", "channel_settings", "jobs_by_state"} <= objects(db_path)


async def test_v1_file_with_data_upgrades_and_keeps_it(db_path: Path, make_job: MakeJob) -> None:
    job = make_job("old001", state=JobState.SUBMITTED, project_id="p-1", file_ids=("f1",))
    async with aiosqlite.connect(db_path, isolation_level=None) as db:
        assert await migrate(db, path=str(db_path), target=1) == 1
        columns = ", ".join(JOB_COLUMNS)
        marks = ", ".join(f":{c}" for c in JOB_COLUMNS)
        await db.execute(f"INSERT INTO jobs ({columns}) VALUES ({marks})", job_to_row(job))  # noqa: S608
        await db.execute(
            "INSERT INTO channel_projects VALUES ('discord', 'guild-1', 'chan-1', 'p-1', 1.0)"
        )
    assert user_version(db_path) == 1
    assert "channel_settings" not in objects(db_path)

    async with await SqliteJobStore.open(db_path) as store:
        assert (await store.diagnostics()).schema_version == LATEST_VERSION
        assert await store.get_job("old001") == job
        assert [j.id for j in await store.unfinished_jobs()] == ["old001"]
        key = ChannelKey("discord", "guild-1", "chan-1")
        assert await store.get_project(key) == "p-1"
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


async def test_several_processes_opening_a_fresh_file_at_once(
    db_path: Path, make_job: MakeJob
) -> None:
    stores = await asyncio.gather(*(SqliteJobStore.open(db_path) for _ in range(4)))
    async with contextlib.AsyncExitStack() as stack:
        for store in stores:
            await stack.enter_async_context(store)
        for n, store in enumerate(stores):
            assert (await store.diagnostics()).schema_version == LATEST_VERSION
            await store.add_job(make_job(f"job{n}"))
        assert len(await stores[0].unfinished_jobs()) == 4
    assert user_version(db_path) == LATEST_VERSION
