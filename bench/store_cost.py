"""CPU per job of the store calls one job makes, for the store choice behind
``storage/postgres_store.py``: SQLite (the shipped ``SqliteJobStore``), PostgreSQL through
asyncpg directly (the shipped ``PostgresJobStore``), and PostgreSQL through SQLAlchemy
Core async over asyncpg (a prototype of just these calls, on the same schema).

One job: ``add_job`` and a ``get_job`` (intake, on replica A); then replica B's
``claim_unfinished`` after A's leases ran out (each job's share of one claim); then six
compare-and-set ``save_job`` calls along the happy path and two more ``get_job`` (on B).
``concurrency`` jobs are in flight at once, as in a busy bot. CPU is this process's
(every thread: aiosqlite's worker too); PostgreSQL's own CPU (its server processes) is
reported beside it. The server is a throwaway cluster with fsync on.

``python -m bench.store_cost [--jobs 2000] [--concurrency 20] [--repeat 3]``"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Protocol

import asyncpg
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from bench.machine import machine_info
from bench.procstat import cpu_seconds
from bot.backend.types import ResultFile
from bot.command import ImagineParams
from bot.jobs import Job, JobState
from bot.store import Claimed, StaleJob
from storage import PostgresJobStore, SqliteJobStore, codec, sql
from tests.support.postgres import PostgresCluster

LEASE = 30.0
RESULTS = Path(__file__).parent / "results" / "store_cost.json"
LABELS = {
    "sqlite": "SQLite (aiosqlite, SqliteJobStore)",
    "asyncpg": "PostgreSQL, asyncpg direct (PostgresJobStore)",
    "sqlalchemy": "PostgreSQL, SQLAlchemy Core async over asyncpg",
    "asyncpg-no-history": "  same, without the job_transitions trigger",
}


class BenchClock:
    def __init__(self) -> None:
        self.t = time.time()

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t


class HotPath(Protocol):
    """The calls measured (what each variant implements)."""

    async def add_job(self, job: Job) -> Job: ...
    async def get_job(self, job_id: str) -> Job | None: ...
    async def save_job(self, job: Job, *, fenced: bool = True) -> Job: ...
    async def claim_unfinished(self) -> Claimed: ...
    async def aclose(self) -> None: ...


# -- the SQLAlchemy Core prototype -------------------------------------------------------

_TYPES: dict[str, Any] = {
    "rowid": sa.BigInteger,
    "version": sa.BigInteger,
    "attempts": sa.Integer,
    "parent_index": sa.Integer,
    "notified": sa.Boolean,
    "has_slot": sa.Boolean,
    "created_at": sa.Float,
    "updated_at": sa.Float,
    "lease_until": sa.Float,
}
_META = sa.MetaData()
JOBS = sa.Table(
    "jobs",
    _META,
    *(
        sa.Column(name, _TYPES.get(name, sa.Text), primary_key=name == "id")
        for name in ("rowid", *codec.JOB_COLUMNS, "owner", "lease_until", "has_slot")
    ),
)
_SELECTED = [JOBS.c[name] for name in codec.JOB_COLUMNS]


class SqlAlchemyStore:
    """The hot-path calls of ``PostgresJobStore`` in SQLAlchemy Core (same SQL, same
    fencing, same codec)."""

    def __init__(self, engine: AsyncEngine, owner: str, clock: BenchClock) -> None:
        self._engine = engine
        self._owner = owner
        self._clock = clock
        c = JOBS.c
        self._update = (
            sa.update(JOBS)
            .where(
                c.id == sa.bindparam("b_id"),
                c.version == sa.bindparam("b_version"),
                c.owner == sa.bindparam("b_owner"),
            )
            .values(
                {
                    **{name: sa.bindparam(name) for name in sql.UPDATE_COLUMNS},
                    "version": c.version + 1,
                    "has_slot": sa.and_(c.has_slot, sa.not_(sa.bindparam("b_ends"))),
                    "lease_until": sa.bindparam("b_lease"),
                }
            )
        )
        self._get = sa.select(*_SELECTED).where(
            c.id == sa.bindparam("b_id"), c.state != sql.QUARANTINED
        )
        claimable = (
            sa.select(c.id)
            .where(
                sa.text(sql.RESUMABLE),
                sa.or_(
                    c.owner.is_(None),
                    sa.and_(
                        c.owner != sa.bindparam("b_owner"), c.lease_until < sa.bindparam("b_now")
                    ),
                ),
            )
            .order_by(c.created_at, c.rowid)
            .with_for_update(skip_locked=True)
            .cte("claimable")
        )
        self._claim = (
            sa.update(JOBS)
            .where(c.id == claimable.c.id)
            .values(owner=sa.bindparam("b_owner"), lease_until=sa.bindparam("b_lease"),
                    version=c.version + 1)
            .returning(c.rowid, *_SELECTED)
        )  # fmt: skip

    async def add_job(self, job: Job) -> Job:
        job = replace(job, version=1)
        row = {**codec.job_to_row(job), "owner": self._owner, "lease_until": self._lease_end()}
        async with self._engine.connect() as conn:
            await conn.execute(JOBS.insert(), row)
        return job

    async def save_job(self, job: Job, *, fenced: bool = True) -> Job:
        row = codec.job_to_row(job)
        params = {name: row[name] for name in sql.UPDATE_COLUMNS}
        params.update(b_id=job.id, b_version=job.version, b_owner=self._owner,
                      b_ends=job.state.terminal, b_lease=self._lease_end())  # fmt: skip
        async with self._engine.connect() as conn:
            result = await conn.execute(self._update, params)
        if result.rowcount == 0:
            raise StaleJob(job.id)
        return replace(job, version=job.version + 1)

    async def get_job(self, job_id: str) -> Job | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(self._get, {"b_id": job_id})).first()
        return None if row is None else codec.job_from_row(row._mapping)

    async def claim_unfinished(self) -> Claimed:
        now = self._clock.now()
        async with self._engine.connect() as conn:
            result = await conn.execute(
                self._claim, {"b_owner": self._owner, "b_now": now, "b_lease": now + LEASE}
            )
            rows = sorted(result.mappings(), key=lambda r: (r["created_at"], r["rowid"]))
        jobs, bad = codec.jobs_or_quarantined(rows)
        return Claimed(jobs, bad)

    async def aclose(self) -> None:
        await self._engine.dispose()

    def _lease_end(self) -> float:
        return self._clock.now() + LEASE


# -- the workload ------------------------------------------------------------------------


def make_job(n: int, prefix: str) -> Job:
    at = 1_700_000_000.0 + n
    return Job(
        id=f"{prefix}{n:06}",
        platform="discord",
        workspace="guild-1",
        channel=f"chan-{n % 7}",
        requester_id=f"u-{n % 50}",
        requester_name="Ada Lovelace",
        params=ImagineParams(
            prompt=f"a watercolor fox in the snow, number {n}", width=1024, height=768,
            steps=30, style="watercolor", count=4, seed=n * 7919,
        ),
        state=JobState.ACCEPTED,
        created_at=at,
        updated_at=at,
        thread=f"thread-{n}",
        status_message_id=f"msg-{n}",
    )  # fmt: skip


def steps_of(job: Job) -> Iterable[dict[str, Any]]:
    """The six writes of a job's happy path."""
    results = tuple(
        ResultFile(f"https://cdn.example/{job.id}/{i}.png", i, "image/png") for i in range(4)
    )
    yield {"state": JobState.PREPARED, "scope": "proj-1"}
    yield {"state": JobState.SUBMITTING, "submission": json.dumps({"key": job.id})}
    yield {"state": JobState.SUBMITTED, "submission": json.dumps({"key": job.id, "id": 1})}
    yield {"state": JobState.COMPLETED, "results": results}
    yield {"state": JobState.POSTED, "posted_message_ids": ("m1", "m2", "m3", "m4")}
    yield {"notified": True}


async def bounded(concurrency: int, work: Iterable[Awaitable[None]]) -> None:
    gate = asyncio.Semaphore(concurrency)

    async def one(step: Awaitable[None]) -> None:
        async with gate:
            await step

    await asyncio.gather(*(one(step) for step in work))


async def intake(store: HotPath, job: Job) -> None:
    await store.add_job(job)
    await store.get_job(job.id)


async def run(store: HotPath, job: Job) -> None:
    for n, change in enumerate(steps_of(job)):
        job = await store.save_job(dataclasses.replace(job, **change))
        if n in (1, 3):
            await store.get_job(job.id)  # e.g. a Cancel press re-reads it


def server_cpu(postmaster: int | None) -> float:
    """CPU seconds of the PostgreSQL server so far (0 without one): the postmaster, its
    live children, and (``cutime``/``cstime``) the children that already exited."""
    if postmaster is None:
        return 0.0
    total = 0
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            # After "pid (comm)": state ppid … utime stime cutime cstime (fields 14-17).
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if stat.parent.name == str(postmaster):
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == postmaster:
            total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


Opener = Callable[[str, BenchClock], Awaitable[HotPath]]


@dataclass
class Variant:
    name: str
    open: Opener
    postmaster: int | None


async def measure(variant: Variant, jobs: int, concurrency: int, prefix: str) -> dict[str, float]:
    clock = BenchClock()
    a = await variant.open("replica-a", clock)
    b = await variant.open("replica-b", clock)
    try:
        warm = [make_job(n, f"w{prefix}") for n in range(50)]
        await bounded(concurrency, (intake(a, job) for job in warm))
        clock.t += LEASE + 1
        await bounded(concurrency, (run(b, job) for job in (await b.claim_unfinished()).jobs))

        batch = [make_job(n, prefix) for n in range(jobs)]
        cpu0, server0, wall0 = cpu_seconds(), server_cpu(variant.postmaster), time.monotonic()
        await bounded(concurrency, (intake(a, job) for job in batch))
        clock.t += LEASE + 1
        claimed = await b.claim_unfinished()
        await bounded(concurrency, (run(b, job) for job in claimed.jobs))
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - wall0
        server = server_cpu(variant.postmaster) - server0
    finally:
        await a.aclose()
        await b.aclose()
    assert len(claimed.jobs) == jobs, (variant.name, len(claimed.jobs))
    return {
        "cpu_ms_per_job": cpu / jobs * 1000,
        "server_cpu_ms_per_job": server / jobs * 1000,
        "jobs_per_second": jobs / wall,
    }


async def _variants(cluster: PostgresCluster, tmp: Path) -> list[Variant]:
    async def sqlite(owner: str, clock: BenchClock) -> HotPath:
        return await SqliteJobStore.open(tmp / "bench.db", clock=clock)

    pg_url, sa_url, bare_url = [await cluster.create_database() for _ in range(3)]
    async with await PostgresJobStore.open(sa_url, owner="migrator"):
        pass  # the prototype runs on the shipped schema
    async with await PostgresJobStore.open(bare_url, owner="migrator"):
        pass
    conn = await asyncpg.connect(bare_url)
    try:
        await conn.execute("DROP TRIGGER jobs_record_transition ON jobs")
    finally:
        await conn.close()

    def asyncpg_direct(url: str) -> Opener:
        async def open_store(owner: str, clock: BenchClock) -> HotPath:
            return await PostgresJobStore.open(url, owner=owner, lease_seconds=LEASE, clock=clock)

        return open_store

    async def sqlalchemy_core(owner: str, clock: BenchClock) -> HotPath:
        engine = create_async_engine(
            sa_url.replace("postgresql://", "postgresql+asyncpg://", 1),
            pool_size=10,  # as PostgresJobStore's pool
            max_overflow=0,
            # One statement, one transaction: what PostgresJobStore does (no BEGIN/COMMIT).
            isolation_level="AUTOCOMMIT",
            connect_args={"server_settings": {"application_name": owner}},
        )
        return SqlAlchemyStore(engine, owner, clock)

    pid = cluster.postmaster_pid
    return [
        Variant("sqlite", sqlite, None),
        Variant("asyncpg", asyncpg_direct(pg_url), pid),
        Variant("sqlalchemy", sqlalchemy_core, pid),
        Variant("asyncpg-no-history", asyncpg_direct(bare_url), pid),
    ]


async def _run_all(jobs: int, concurrency: int, repeat: int) -> dict[str, Any]:
    cluster = PostgresCluster.start(durable=True)
    try:
        with tempfile.TemporaryDirectory() as tmp:
            variants = await _variants(cluster, Path(tmp))
            runs: dict[str, list[dict[str, float]]] = {v.name: [] for v in variants}
            for r in range(repeat):  # interleaved, so drift hits every variant alike
                for v in variants:
                    runs[v.name].append(await measure(v, jobs, concurrency, prefix=f"r{r}-"))
    finally:
        cluster.stop()
    rows = []
    for name, samples in runs.items():
        row: dict[str, Any] = {"variant": name, "label": LABELS[name]}
        for key in samples[0]:
            row[key] = statistics.median(s[key] for s in samples)
        row["cpu_ms_per_job_runs"] = [round(s["cpu_ms_per_job"], 3) for s in samples]
        rows.append(row)
    return {
        "jobs": jobs,
        "concurrency": concurrency,
        "repeat": repeat,
        "machine": machine_info(),
        "rows": rows,
    }


def table(results: dict[str, Any]) -> str:
    """The results as a plain-text table (also the docstring of postgres_store.py)."""
    lines = [
        f"{'store':<50} {'CPU ms/job':>10} {'server ms/job':>13} {'jobs/s':>7}",
    ]
    for row in results["rows"]:
        server = f"{row['server_cpu_ms_per_job']:.2f}" if row["variant"] != "sqlite" else "-"
        lines.append(
            f"{row['label']:<50} {row['cpu_ms_per_job']:>10.2f} {server:>13} "
            f"{row['jobs_per_second']:>7.0f}"
        )
    m = results["machine"]
    lines.append(
        f"({results['jobs']} jobs x {results['repeat']} runs, median; {results['concurrency']} "
        f"in flight; {m['nproc']} cores, {m['cpu_model']}, Python {m['python']}, {m['date']})"
    )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_cost", description=__doc__)
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS)
    ns = parser.parse_args()
    results = asyncio.run(_run_all(ns.jobs, ns.concurrency, ns.repeat))
    ns.json.parent.mkdir(parents=True, exist_ok=True)
    ns.json.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
