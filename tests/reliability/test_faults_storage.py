"""Fault matrix, database side: another writer holding the SQLite lock, and a disk that
refuses writes. The user gets a clear answer, nothing committed is lost, nothing corrupts.

"Disk full" is a real refused write: ``RLIMIT_FSIZE`` (with ``SIGXFSZ`` ignored) makes the
kernel refuse to grow any file of this process past the current size of the bot's WAL,
for a moment. SQLite then fails the write exactly as it does on a full disk, only with
``EFBIG`` instead of ``ENOSPC`` (so the code is ``SQLITE_IOERR_WRITE``, not ``SQLITE_FULL``;
both roll the transaction back the same way). ``PRAGMA max_page_count`` cannot do this
from the outside: it only limits the connection that sets it, and the bot's connection is
private. Nothing else in this process writes files while the limit is on."""

from __future__ import annotations

import asyncio
import logging
import resource
import signal
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.support.faulty_store import FaultyStore
from tests.support.harness import emulator_config, invocation, open_harness
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import file_ids
from tests.support.waiting import job_in_state, until

GENERATE_ROUTE = "POST /api/generation/image"
SAVE_FAILED = "couldn't save your request (database problem). Nothing was started"


@contextmanager
def write_lock(db: Path) -> Iterator[None]:
    """Another process holds SQLite's write lock until the block ends."""
    other = sqlite3.connect(db, isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")
        yield
        other.execute("ROLLBACK")
    finally:
        other.close()


class Reached(FaultyStore):
    """Delegates everything (no crash); ``reached`` is set once a command calls the store
    (for its channel's settings, or to add its job)."""

    def __init__(self, inner: SqliteJobStore) -> None:
        super().__init__(inner)
        self.reached = asyncio.Event()

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        self.reached.set()
        return await super().get_channel_settings(key)

    async def add_job(self, job: Job) -> Job:
        self.reached.set()
        return await super().add_job(job)


@contextmanager
def disk_full(db: Path) -> Iterator[None]:
    """No file of this process may grow past the bot's largest database file (WAL)."""
    limit = max(p.stat().st_size for p in db.parent.glob(db.name + "*"))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def integrity(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("PRAGMA integrity_check").fetchone()[0])
    finally:
        conn.close()


async def test_a_lock_shorter_than_busy_timeout_only_delays_the_job(
    emulator: Emulator, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    chat = RecordingChat()
    stores: list[Reached] = []

    def reached(inner: SqliteJobStore) -> Reached:
        stores.append(Reached(inner))
        return stores[-1]

    async with open_harness(emulator, db, [chat], wrap_store=reached) as h:
        with write_lock(db):
            command = asyncio.create_task(h.bot.imagine(invocation("a fox waiting its turn")))
            async with asyncio.timeout(5.0):  # the command got to the store under the lock…
                await stores[0].reached.wait()
            # …which then stays held for half a second more: the fault's own length (a tenth
            # of the store's 5 s busy_timeout), not a synchronisation. A command that does
            # not wait for the lock fails at its first try; a correct one cannot be done
            # while the lock is held, however loaded the machine.
            done, _ = await asyncio.wait({command}, timeout=0.5)
            assert not done and chat.notes == []  # waiting for the lock, not failing
        job = await h.bot.wait_for(await command or "")

        assert job is not None and job.state is JobState.POSTED
        assert len(chat.images) == 1 and chat.notes == []


async def test_a_lock_held_past_busy_timeout_refuses_the_command_clearly(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "bot.db"
    chat = RecordingChat()
    async with open_harness(emulator, db, [chat]) as h:
        with write_lock(db):  # longer than the store's 5 s busy_timeout
            assert await h.bot.imagine(invocation("a fox at a locked door")) is None

        [note] = chat.notes
        assert note.user_id == "U1" and SAVE_FAILED in note.text
        assert chat.threads == [] and emulator.counters.requests[GENERATE_ROUTE] == 0
        assert any(
            "SQLITE_BUSY" in r.getMessage() or "SQLITE_BUSY" in (r.exc_text or "")
            for r in caplog.records
            if r.levelno >= logging.ERROR
        )
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox after")) or "")
        assert job is not None and job.state is JobState.POSTED  # the lock gone, all works


async def test_a_full_disk_refuses_new_commands_clearly_and_loses_nothing_committed(
    emulator: Emulator, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    db = tmp_path / "bot.db"
    chat = RecordingChat()
    async with open_harness(emulator, db, [chat]) as h:
        first = await h.bot.wait_for(await h.bot.imagine(invocation("a fox before")) or "")
        assert first is not None and first.state is JobState.POSTED

        with disk_full(db):
            refused = await h.bot.imagine(invocation("a fox with no room"))

        assert refused is None
        [note] = chat.notes
        assert SAVE_FAILED in note.text
        assert emulator.counters.requests[GENERATE_ROUTE] == 1  # only the first job's
        logged = "\n".join(r.getMessage() + (r.exc_text or "") for r in caplog.records)
        assert "SQLITE_IOERR_WRITE" in logged and str(db) in logged
        assert integrity(db) == "ok"
        assert await h.store.get_job(first.id) == first  # committed, still there

        again = await h.bot.wait_for(await h.bot.imagine(invocation("a fox after")) or "")
        assert again is not None and again.state is JobState.POSTED
    assert integrity(db) == "ok"


async def test_a_disk_full_in_mid_job_keeps_the_job_for_the_next_start(
    tmp_path: Path,
) -> None:
    db = tmp_path / "bot.db"
    chat = RecordingChat()
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with open_harness(emulator, db, [chat]) as h:
            job_id = await h.bot.imagine(invocation("a fox on a full disk")) or ""
            submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)
            with disk_full(db):
                await emulator.finish(file_ids(submitted)[0])
                await until(lambda: h.bot.pending == 0)  # the run gave up on the write
            stored = await h.store.get_job(job_id)
            assert stored == submitted  # the last committed step, intact
            assert chat.images == []
            [note] = chat.notes  # the requester hears about it, once
            assert note.user_id == "U1" and job_id in note.text and "database problem" in note.text
            assert "restarts me" in note.text  # SQLite: nothing resumes it before a restart
        assert integrity(db) == "ok"

        # Space is back and the bot restarts: the job resumes at its step, posted once.
        async with open_harness(emulator, db, [chat]) as h:
            job = await h.bot.wait_for(job_id)
            assert job is not None and job.state is JobState.POSTED
            assert len(chat.images) == 1
