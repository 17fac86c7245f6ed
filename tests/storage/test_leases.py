"""Replicas on one PostgreSQL database: who holds a job, for how long, and what happens
to a replica that lost one. Time is the stores' clock, moved by hand; two real processes
where it is about concurrency. (SQLite: one process, no leases.)"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import os
import random
import sys
from collections import defaultdict
from pathlib import Path

import asyncpg
import pytest

from bot.jobs import Job, JobState
from bot.store import StaleJob
from storage import PostgresJobStore, ReplicaInUseError, SqliteJobStore
from tests.storage.conftest import FakeClock, MakeJob, PostgresDatabase
from tests.support.postgres import PostgresCluster

LEASE = 30.0
REPO = Path(__file__).resolve().parents[2]
HAPPY_PATH = (
    JobState.ACCEPTED,
    JobState.PREPARED,
    JobState.SUBMITTING,
    JobState.SUBMITTED,
    JobState.COMPLETED,
    JobState.POSTED,
)


async def test_sqlite_is_not_shared_and_its_leases_are_no_ops(
    sqlite_store: SqliteJobStore, make_job: MakeJob
) -> None:
    await sqlite_store.add_job(make_job("a0"))
    assert sqlite_store.shared is False
    assert await sqlite_store.renew_leases() == frozenset()


async def replica(pg: PostgresDatabase, owner: str, clock: FakeClock) -> PostgresJobStore:
    return await pg.open(owner=owner, clock=clock, lease_seconds=LEASE)


async def owners(pg: PostgresDatabase) -> dict[str, str | None]:
    return {r["id"]: r["owner"] for r in await pg.fetch("SELECT id, owner FROM jobs")}


async def test_a_new_job_is_held_by_the_replica_that_added_it(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    async with await replica(pg, "replica-a", clock) as a:
        assert a.shared is True
        await a.add_job(make_job("a0"))
        async with await replica(pg, "replica-b", clock) as b:
            assert (await b.claim_unfinished()).jobs == []
            clock.t += LEASE - 1
            assert (await b.claim_unfinished()).jobs == []
    assert await owners(pg) == {"a0": "replica-a"}


async def test_a_dead_replicas_jobs_are_claimed_once_its_lease_expires(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    dead = await replica(pg, "replica-a", clock)
    await dead.add_job(make_job("late", created_at=3.0, state=JobState.SUBMITTED))
    await dead.add_job(make_job("early", created_at=1.0))
    await dead.add_job(make_job("untold", created_at=2.0, state=JobState.FAILED))
    await dead.add_job(make_job("told", created_at=2.5, state=JobState.POSTED, notified=True))
    await dead.aclose()  # (a kill -9 would leave the same rows)
    async with await replica(pg, "replica-b", clock) as b:
        assert (await b.claim_unfinished()).jobs == []

        clock.t += LEASE + 0.001
        claimed = await b.claim_unfinished()

        assert [j.id for j in claimed.jobs] == ["early", "untold", "late"]
        assert all(j.version == 2 for j in claimed.jobs)  # bumped: fences out replica-a
        assert await b.get_job("late") == claimed.jobs[-1]
    assert await owners(pg) == {
        "early": "replica-b",
        "untold": "replica-b",
        "late": "replica-b",
        "told": "replica-a",
    }


async def test_a_replica_that_lost_its_lease_cannot_write(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    a = await replica(pg, "replica-a", clock)
    b = await replica(pg, "replica-b", clock)
    async with a, b:
        held = await a.add_job(make_job("j0"))
        clock.t += LEASE + 1  # replica-a stalled past its lease
        [taken] = (await b.claim_unfinished()).jobs

        with pytest.raises(StaleJob):  # its in-flight write, from the version it read
            await a.save_job(dataclasses.replace(held, state=JobState.PREPARED))
        reread = await a.get_job("j0")
        assert reread == taken
        with pytest.raises(StaleJob):  # even from the latest version: not its job now
            await a.save_job(dataclasses.replace(reread, state=JobState.PREPARED))

        advanced = await b.save_job(dataclasses.replace(taken, state=JobState.PREPARED))
        assert await a.get_job("j0") == advanced
        # A Cancel pressed on replica-a is unfenced: it only needs the latest version.
        cancelled = await a.save_job(
            dataclasses.replace(advanced, state=JobState.CANCELLED), fenced=False
        )
        with pytest.raises(StaleJob):
            await b.save_job(dataclasses.replace(advanced, state=JobState.SUBMITTING))
        assert await b.get_job("j0") == cancelled
        # ... and replica-a now holds the job: it announces the cancel, replica-b lets go.
        assert await owners(pg) == {"j0": "replica-a"}
        assert await a.renew_leases() == {"j0"}
        assert await b.renew_leases() == frozenset()
        await a.save_job(dataclasses.replace(cancelled, notified=True))


async def test_heartbeats_and_fenced_writes_keep_a_lease(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    a = await replica(pg, "replica-a", clock)
    b = await replica(pg, "replica-b", clock)
    async with a, b:
        quiet = await a.add_job(make_job("quiet", created_at=1.0))
        busy = await a.add_job(make_job("busy", created_at=2.0))
        await a.add_job(make_job("over", created_at=3.0, state=JobState.POSTED, notified=True))
        await b.add_job(make_job("theirs", created_at=4.0))

        clock.t += 20
        assert await a.renew_leases() == {"quiet", "busy"}  # not the finished one
        clock.t += 20
        busy = await a.save_job(dataclasses.replace(busy, attempts=1))
        assert (await b.claim_unfinished()).jobs == []  # nor its own 'theirs': it runs there

        clock.t += 15  # 35 s after a's heartbeat, 15 s after its write
        assert [j.id for j in (await b.claim_unfinished()).jobs] == ["quiet"]
        await a.save_job(dataclasses.replace(busy, attempts=2))
        with pytest.raises(StaleJob):
            await a.save_job(dataclasses.replace(quiet, attempts=1))
        assert await a.renew_leases() == {"busy"}


async def test_a_restart_takes_its_own_jobs_back_at_once_and_later_claims_leave_them(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    async with await replica(pg, "replica-a", clock) as before:
        await before.add_job(make_job("mine"))
    async with await replica(pg, "replica-a", clock) as after:
        new = await after.add_job(make_job("new"))  # before its first claim, even
        [mine] = (await after.claim_unfinished()).jobs  # no waiting for the lease
        assert (mine.id, mine.version) == ("mine", 2)
        assert await after.get_job("new") == new  # one it runs itself is not taken

        clock.t += LEASE * 3  # even with its own lease run out (a stalled heartbeat)
        assert (await after.claim_unfinished()).jobs == []
        saved = await after.save_job(dataclasses.replace(mine, state=JobState.PREPARED))
        assert saved.version == 3  # its runner was not fenced out by itself


async def test_one_process_per_replica_id_and_a_killed_ones_id_is_free_at_once(
    pg: PostgresDatabase, postgres_cluster: PostgresCluster
) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.storage.child", "claim", "replica-a",
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
        env={**os.environ, "IMAGINE_DATABASE_URL": pg.url}, cwd=REPO,
    )  # fmt: skip
    try:
        assert child.stdout is not None
        async with asyncio.timeout(30):
            assert await child.stdout.readline() == b"ready\n"

        with pytest.raises(ReplicaInUseError) as refused:
            await PostgresJobStore.open(pg.url, owner="replica-a", owner_wait=0.2)
        async with await PostgresJobStore.open(pg.url, owner="replica-b"):
            pass  # another id is welcome
    finally:
        child.kill()
        await child.wait()

    message = str(refused.value)
    assert "'replica-a' is in use" in message and "IMAGINE_REPLICA_ID" in message
    assert postgres_cluster.password not in message
    async with await PostgresJobStore.open(pg.url, owner="replica-a") as restarted:
        assert restarted.owner == "replica-a"


async def test_claims_by_two_processes_at_once_never_share_a_job(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    """Two replicas in two real processes claim 2,000 expired jobs at the same moment."""
    clock.t = 1_000_000.0  # the dead replica's leases ran out long ago (system clock)
    async with await replica(pg, "replica-dead", clock) as dead:
        for n in range(2000):
            await dead.add_job(make_job(f"j{n:04}", created_at=float(n)))

    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, "-m", "tests.storage.child", "claim", owner,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "IMAGINE_DATABASE_URL": pg.url}, cwd=REPO,
        )
        for owner in ("replica-a", "replica-b")
    ]  # fmt: skip
    try:
        async with asyncio.timeout(60):
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:
                assert child.stdin is not None
                child.stdin.write(b"go\n")
            for child in children:
                assert child.stdin is not None
                await child.stdin.drain()
            outputs = [await child.communicate() for child in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()

    got_a, got_b = (set(json.loads(out)) for out, _ in outputs)
    assert not got_a & got_b
    assert got_a | got_b == {f"j{n:04}" for n in range(2000)}
    held = await owners(pg)
    assert {j for j, o in held.items() if o == "replica-a"} == got_a


async def test_the_transition_history_shows_one_owner_at_a_time(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    """Three replicas race through 30 jobs while leases expire under them (a replica now
    and then skips its heartbeat). The trigger's history proves that every job moved
    along one chain of versions, each write by the replica that held it then."""
    stores = [await replica(pg, f"replica-{n}", clock) for n in range(3)]
    rng = random.Random(7)
    held: list[dict[str, Job]] = [{} for _ in stores]

    async def work(n: int) -> None:
        store, mine = stores[n], held[n]
        for job in (await store.claim_unfinished()).jobs:
            mine[job.id] = job
        if rng.random() < 0.7:
            await store.renew_leases()
        for job_id, job in list(mine.items()):
            if job.state.terminal:
                del mine[job_id]
                continue
            step = HAPPY_PATH[HAPPY_PATH.index(job.state) + 1]
            try:
                mine[job_id] = await store.save_job(
                    dataclasses.replace(job, state=step, notified=step.terminal)
                )
            except StaleJob:
                del mine[job_id]  # taken over: this replica stops running it

    try:
        for n in range(30):
            await stores[n % 3].add_job(make_job(f"j{n:02}", created_at=float(n)))
        for _ in range(40):
            await asyncio.gather(*(work(n) for n in range(3)))
            clock.t += rng.choice((1.0, 5.0, LEASE + 1))
    finally:
        for store in stores:
            await store.aclose()

    history: dict[str, list[asyncpg.Record]] = defaultdict(list)
    for row in await pg.fetch("SELECT * FROM job_transitions ORDER BY seq"):
        history[row["job_id"]].append(row)
    assert len(history) == 30
    handovers = 0
    for job_id, steps in history.items():
        assert [s["old_version"] for s in steps] == list(range(1, len(steps) + 1)), job_id
        assert all(s["new_version"] == s["old_version"] + 1 for s in steps), job_id
        for s in steps:
            assert s["writer"] == s["new_owner"], (job_id, s)
            if s["old_state"] == s["new_state"]:  # a claim
                handovers += s["old_owner"] != s["new_owner"]
            else:  # a fenced save: by the holder, one step on
                assert s["old_owner"] == s["new_owner"], (job_id, s)
                old, new = JobState(s["old_state"]), JobState(s["new_state"])
                assert HAPPY_PATH.index(new) == HAPPY_PATH.index(old) + 1, (job_id, s)
    assert handovers > 0  # leases really did change hands


async def test_pruning_takes_the_history_with_the_jobs(
    pg: PostgresDatabase, clock: FakeClock, make_job: MakeJob
) -> None:
    async with await replica(pg, "replica-a", clock) as a:
        old = await a.add_job(make_job("old", created_at=1.0))
        new = await a.add_job(make_job("new", created_at=9.0))
        for job in (old, new):
            await a.save_job(dataclasses.replace(job, state=JobState.POSTED, notified=True))

        assert await a.prune_jobs(before=5.0) == 1

    rows = await pg.fetch("SELECT DISTINCT job_id FROM job_transitions")
    assert [r["job_id"] for r in rows] == ["new"]
