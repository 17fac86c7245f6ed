"""The connection's settings, concurrent writers, and operator-facing errors (SQLite's;
PostgreSQL's are in test_postgres.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.jobs import Job, JobState
from storage import SqliteJobStore, StorageError
from tests.storage.conftest import AnyStore, Database

MakeJob = Callable[..., Job]


async def test_pragmas_are_really_set(sqlite_store: SqliteJobStore, db_path: Path) -> None:
    diag = await sqlite_store.diagnostics()

    assert diag.journal_mode == "wal"
    assert diag.synchronous == 2  # FULL
    assert diag.busy_timeout_ms == 5000
    assert diag.foreign_keys is True
    assert diag.path == str(db_path)
    # WAL is a property of the file: an unrelated connection sees it too.
    conn = sqlite3.connect(db_path)
    try:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        conn.close()


async def test_busy_timeout_is_configurable(db_path: Path) -> None:
    async with await SqliteJobStore.open(db_path, busy_timeout_ms=1234) as store:
        assert (await store.diagnostics()).busy_timeout_ms == 1234


async def test_fifty_concurrent_writes_on_one_store_all_land(
    store: AnyStore, make_job: MakeJob
) -> None:
    existing = [await store.add_job(make_job(f"old{i:02}")) for i in range(25)]
    fresh = [make_job(f"new{i:02}", created_at=2000.0 + i) for i in range(25)]
    updated = [
        dataclasses.replace(job, state=JobState.SUBMITTED, attempts=i + 1)
        for i, job in enumerate(existing)
    ]

    written = await asyncio.gather(
        *(store.add_job(job) for job in fresh), *(store.save_job(job) for job in updated)
    )

    for job in written:
        assert await store.get_job(job.id) == job
    assert len(await store.unfinished_jobs()) == 50


async def test_two_stores_on_one_database_write_concurrently(
    database: Database, make_job: MakeJob
) -> None:
    a = await database.open(owner="replica-a")
    b = await database.open(owner="replica-b")
    async with a, b:
        jobs_a = [make_job(f"a{i:02}", created_at=float(i)) for i in range(30)]
        jobs_b = [make_job(f"b{i:02}", created_at=float(i) + 0.5) for i in range(30)]

        async def write(store: AnyStore, jobs: list[Job]) -> None:
            for job in jobs:
                added = await store.add_job(job)
                await store.save_job(dataclasses.replace(added, attempts=1))

        await asyncio.gather(write(a, jobs_a), write(b, jobs_b))

        # Each store sees the other's committed writes.
        for reader in (a, b):
            loaded = await reader.unfinished_jobs()
            assert len(loaded) == 60
            assert all(job.attempts == 1 for job in loaded)
            assert [j.id for j in loaded[:4]] == ["a00", "b00", "a01", "b01"]


async def test_lock_held_past_busy_timeout_is_a_clear_storage_error(
    db_path: Path, make_job: MakeJob
) -> None:
    async with await SqliteJobStore.open(db_path, busy_timeout_ms=50) as store:
        added = await store.add_job(make_job("job001"))
        blocker = sqlite3.connect(db_path, isolation_level=None)
        try:
            blocker.execute("BEGIN IMMEDIATE")  # another process holds the write lock
            with pytest.raises(StorageError) as info:
                await store.save_job(dataclasses.replace(added, attempts=9))
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()

        assert info.value.code == "SQLITE_BUSY"
        assert info.value.path == str(db_path)
        assert "save_job(job001)" in str(info.value)
        assert str(db_path) in str(info.value)
        assert "another connection" in str(info.value)
        # Once the lock is gone, the same store works again.
        await store.save_job(dataclasses.replace(added, attempts=9))
        job = await store.get_job("job001")
        assert job is not None
        assert job.attempts == 9


@pytest.fixture
def text_file(db_path: Path) -> Path:
    db_path.write_bytes(b"this is a text file, not SQLite\n" * 100)
    return db_path


async def test_a_file_that_is_not_a_database(text_file: Path, db_path: Path) -> None:
    with pytest.raises(StorageError) as info:
        await SqliteJobStore.open(db_path)

    assert info.value.code == "SQLITE_NOTADB"
    assert str(db_path) in str(info.value)
    assert "IMAGINE_DB_PATH" in str(info.value)


async def test_a_missing_directory(tmp_path: Path) -> None:
    path = tmp_path / "no-such-dir" / "imagine.db"

    with pytest.raises(StorageError) as info:
        await SqliteJobStore.open(path)

    assert info.value.code == "SQLITE_CANTOPEN"
    assert str(path) in str(info.value)
    assert "directory exists" in str(info.value)


def test_disk_full_is_explained(tmp_path: Path) -> None:
    """A real SQLITE_FULL (page limit reached) wrapped the way the store wraps it."""
    path = tmp_path / "full.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("CREATE TABLE t (x)")
        conn.execute("PRAGMA max_page_count = 3")
        with pytest.raises(sqlite3.OperationalError) as raised:
            conn.execute("INSERT INTO t VALUES (?)", (b"x" * 100_000,))
    finally:
        conn.close()

    error = StorageError.from_sqlite(raised.value, path=str(path), operation="add_job(k3f9q2)")

    assert error.code == "SQLITE_FULL"
    assert str(error).startswith(f"SQLite add_job(k3f9q2) failed on {str(path)!r}")
    assert "disk" in str(error)
    assert "free space" in str(error)
