"""One process per SQLite file: ``open(exclusive=True)`` refuses while another process
holds the file, and a holder killed with SIGKILL leaves nothing stuck."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from storage import DatabaseInUseError, SqliteJobStore
from tests.storage.conftest import MakeJob

REPO = Path(__file__).resolve().parents[2]


@asynccontextmanager
async def holder(db_path: Path) -> AsyncIterator[asyncio.subprocess.Process]:
    """Another process trying to hold ``db_path`` (``python -m tests.storage.child hold``)."""
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.storage.child", "hold", str(db_path),
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, cwd=REPO,
    )  # fmt: skip
    try:
        yield child
    finally:
        if child.returncode is None:
            child.kill()
            await child.wait()


async def first_line(child: asyncio.subprocess.Process) -> str:
    assert child.stdout is not None
    async with asyncio.timeout(30):
        return (await child.stdout.readline()).decode().strip()


async def test_a_second_process_is_refused_until_the_first_is_killed(
    db_path: Path, make_job: MakeJob
) -> None:
    async with holder(db_path) as child:
        assert await first_line(child) == "ready"

        with pytest.raises(DatabaseInUseError) as info:
            await SqliteJobStore.open(db_path, exclusive=True)
        message = str(info.value)
        assert str(db_path) in message and "IMAGINE_DB_PATH" in message
        assert f"pid {child.pid}" in message
        # A reader that does not ask for the lock (a tool, a test) still opens it.
        async with await SqliteJobStore.open(db_path) as reader:
            assert await reader.unfinished_jobs() == []

        child.kill()  # SIGKILL: no clean-up; the kernel drops the lock with the process
        await child.wait()

    async with await SqliteJobStore.open(db_path, exclusive=True) as store:
        await store.add_job(make_job("after1"))


async def test_a_process_starting_beside_a_running_one_stops_with_the_reason(
    db_path: Path,
) -> None:
    async with await SqliteJobStore.open(db_path, exclusive=True):
        async with holder(db_path) as second:
            line = await first_line(second)
            assert await second.wait() == 3
        assert "in use by another imagine-bot process" in line
        assert "IMAGINE_DB_PATH" in line and str(db_path) in line

    # Closed: the lock is released, and the next process starts.
    async with holder(db_path) as third:
        assert await first_line(third) == "ready"


async def test_closing_releases_the_lock_within_a_process(db_path: Path) -> None:
    store = await SqliteJobStore.open(db_path, exclusive=True)
    with pytest.raises(DatabaseInUseError):
        await SqliteJobStore.open(db_path, exclusive=True)
    await store.aclose()
    async with await SqliteJobStore.open(db_path, exclusive=True):
        pass
