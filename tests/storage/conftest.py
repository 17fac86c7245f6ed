"""Fixtures: a real SQLite file per test, and a Job builder."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from bot.command import ImagineParams
from bot.jobs import Job, JobState
from storage import SqliteJobStore

MakeJob = Callable[..., Job]


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "imagine.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def store(db_path: Path, clock: FakeClock) -> AsyncIterator[SqliteJobStore]:
    async with await SqliteJobStore.open(db_path, clock=clock) as s:
        yield s


@pytest.fixture
def make_job() -> MakeJob:
    def make(job_id: str, *, created_at: float = 1000.0, **overrides: Any) -> Job:
        fields: dict[str, Any] = {
            "id": job_id,
            "platform": "discord",
            "workspace": "guild-1",
            "channel": "chan-1",
            "requester_id": "u-1",
            "requester_name": "Ada",
            "params": ImagineParams(
                prompt=f"a lighthouse {job_id}", width=1024, height=768, steps=20, style="photo"
            ),
            "state": JobState.ACCEPTED,
            "created_at": created_at,
            "updated_at": created_at,
        }
        fields.update(overrides)
        return Job(**fields)

    return make
