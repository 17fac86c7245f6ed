"""Fixtures: every ``store`` test runs on SQLite (a real file) and on PostgreSQL (a real
server, a fresh database per test); a Job builder; a clock moved by hand."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import pytest

from bot.clock import Clock
from bot.command import ImagineParams
from bot.jobs import Job, JobState
from bot.store import Claimed
from storage import PostgresJobStore, SqliteJobStore

MakeJob = Callable[..., Job]
AnyStore = SqliteJobStore | PostgresJobStore


class FakeClock:
    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.t = start

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class Database(Protocol):
    """One database, whichever kind: open stores on it, or change it behind their back."""

    name: str

    async def open(
        self, *, clock: Clock | None = None, owner: str = "replica-a", lease_seconds: float = 30
    ) -> AnyStore: ...

    async def execute(self, statement: str) -> None:
        """Run ``statement`` on a connection of its own (another process, an operator)."""
        ...

    async def schema_version(self) -> int: ...


@dataclass
class SqliteDatabase:
    path: Path
    name: str = "sqlite"

    async def open(
        self, *, clock: Clock | None = None, owner: str = "replica-a", lease_seconds: float = 30
    ) -> SqliteJobStore:
        return await SqliteJobStore.open(self.path, clock=clock)

    async def execute(self, statement: str) -> None:
        conn = sqlite3.connect(self.path)
        try:
            conn.execute(statement)
            conn.commit()
        finally:
            conn.close()

    async def schema_version(self) -> int:
        conn = sqlite3.connect(self.path)
        try:
            return int(conn.execute("PRAGMA user_version").fetchone()[0])
        finally:
            conn.close()


@dataclass
class PostgresDatabase:
    url: str
    name: str = "postgres"

    async def open(
        self, *, clock: Clock | None = None, owner: str = "replica-a", lease_seconds: float = 30
    ) -> PostgresJobStore:
        return await PostgresJobStore.open(
            self.url, owner=owner, lease_seconds=lease_seconds, clock=clock
        )

    async def execute(self, statement: str) -> None:
        await self.fetch(statement)

    async def schema_version(self) -> int:
        [row] = await self.fetch("SELECT max(version) FROM schema_migrations")
        return int(row[0])

    async def fetch(self, statement: str, *args: object) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.url)
        try:
            return await conn.fetch(statement, *args)
        finally:
            await conn.close()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "imagine.db"


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def pg(postgres_url: str) -> PostgresDatabase:
    return PostgresDatabase(postgres_url)


@pytest.fixture(params=["sqlite", "postgres"])
def database(request: pytest.FixtureRequest, db_path: Path) -> Database:
    if request.param == "sqlite":
        return SqliteDatabase(db_path)
    pg: PostgresDatabase = request.getfixturevalue("pg")
    return pg


@pytest.fixture
async def store(database: Database, clock: FakeClock) -> AsyncIterator[AnyStore]:
    async with await database.open(clock=clock) as s:
        yield s


@pytest.fixture
async def sqlite_store(db_path: Path, clock: FakeClock) -> AsyncIterator[SqliteJobStore]:
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


async def claim_at_restart(database: Database, running: AnyStore) -> Claimed:
    """What a restarted process resumes: ``running`` stops, and the first claim of a
    fresh store (same owner) answers."""
    await running.aclose()
    async with await database.open() as fresh:
        return await fresh.claim_unfinished()


async def ids_at_restart(database: Database, running: AnyStore) -> list[str]:
    return [job.id for job in (await claim_at_restart(database, running)).jobs]
