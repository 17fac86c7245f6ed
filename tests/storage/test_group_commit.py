"""Group commit (``storage/sqlite_thread.py``): writes that arrive together share one
transaction, each keeps its own outcome, and every write is committed — visible to
another connection — when its call returns."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.jobs import Job, JobState
from bot.store import StaleJob
from storage import SqliteJobStore
from storage.sqlite_thread import SqliteThread, apply_batch

MakeJob = Callable[..., Job]


def committed_states(db: Path) -> dict[str, str]:
    """What another process reads from the file right now."""
    conn = sqlite3.connect(db)
    try:
        return dict(conn.execute("SELECT id, state FROM jobs").fetchall())
    finally:
        conn.close()


async def test_concurrent_writes_share_commits_and_each_is_committed_on_return(
    db_path: Path, make_job: MakeJob
) -> None:
    async with await SqliteJobStore.open(db_path) as store:
        jobs = [await store.add_job(make_job(f"j{i:03}")) for i in range(200)]
        commits_before = store._db.commits

        async def advance(job: Job) -> None:
            saved = await store.save_job(dataclasses.replace(job, state=JobState.PREPARED))
            # Returned: committed, whatever the other writes of its batch are doing.
            assert committed_states(db_path)[saved.id] == "prepared"

        await asyncio.gather(*(advance(job) for job in jobs))

        assert store._db.commits - commits_before < len(jobs)
    assert set(committed_states(db_path).values()) == {"prepared"}


async def test_a_refused_write_in_a_batch_fails_alone(db_path: Path, make_job: MakeJob) -> None:
    async with await SqliteJobStore.open(db_path) as store:
        a = await store.add_job(make_job("a"))
        b = await store.add_job(make_job("b"))
        stale = dataclasses.replace(a, version=a.version + 5)

        results = await asyncio.gather(
            store.save_job(dataclasses.replace(b, state=JobState.PREPARED)),
            store.save_job(stale),
            store.add_job(make_job("a")),  # the id is taken
            store.add_job(make_job("c")),
            return_exceptions=True,
        )

    assert isinstance(results[0], Job)
    assert isinstance(results[1], StaleJob)
    assert isinstance(results[2], KeyError)
    assert isinstance(results[3], Job)
    assert committed_states(db_path) == {"a": "accepted", "b": "prepared", "c": "accepted"}


def test_an_error_that_ends_the_transaction_fails_the_whole_batch(tmp_path: Path) -> None:
    """A statement whose error rolls the transaction back (here: a write to a table that is
    dropped mid-batch is simulated by a failing COMMIT) leaves nothing committed and every
    write of the batch failed: none of them may be reported as saved."""
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)")
    conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
    conn.execute("PRAGMA foreign_keys = ON")
    conn.execute(
        "CREATE TABLE child (id INTEGER PRIMARY KEY, p INTEGER REFERENCES parent(id) "
        "DEFERRABLE INITIALLY DEFERRED)"
    )
    batch: list[tuple[str, list[object]]] = [
        ("INSERT INTO t (id, v) VALUES (?, ?)", [1, 1]),
        ("INSERT INTO child (id, p) VALUES (?, ?)", [1, 99]),  # fails at COMMIT (deferred FK)
    ]

    outcomes = apply_batch(conn, batch)

    assert all(isinstance(o, sqlite3.IntegrityError) for o in outcomes)
    assert conn.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 0
    assert not conn.in_transaction
    conn.close()


async def test_close_lets_queued_writes_commit_first(tmp_path: Path) -> None:
    path = tmp_path / "t.db"
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)")
    thread = SqliteThread(conn)
    writes = [asyncio.create_task(thread.write("INSERT INTO t VALUES (?)", [i])) for i in range(50)]
    await asyncio.sleep(0)  # let them queue (not a synchronisation: ordering on one loop)

    await thread.close()

    assert [w.result() for w in writes] == [1] * 50
    check = sqlite3.connect(path)
    assert check.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 50
    check.close()
    with pytest.raises(RuntimeError):
        await thread.fetch("SELECT 1")
