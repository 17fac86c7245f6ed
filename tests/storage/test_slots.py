"""Slots held in the store: per-user and overall limits, FIFO per requester, given back
when a job ends, queue positions, and grants that stay within the limits when several
stores (replicas) ask at once."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import random
from collections import Counter

import pytest

from bot.jobs import ChannelKey, JobState
from bot.slots import SharedSlots
from tests.storage.conftest import AnyStore, Database, MakeJob, PostgresDatabase

HERE = ChannelKey("discord", "guild-1", "chan-1")
ELSEWHERE = ChannelKey("discord", "guild-2", "chan-1")


async def take(store: AnyStore, job_id: str, user: str = "u-1", *, per_user: int = 2,
               overall: int = 10, key: ChannelKey = HERE) -> bool:  # fmt: skip
    return await store.take_slot(job_id, key, user, per_user=per_user, overall=overall)


async def test_a_user_gets_per_user_slots_and_then_waits(
    store: AnyStore, make_job: MakeJob
) -> None:
    for n in range(3):
        await store.add_job(make_job(f"a{n}", created_at=float(n)))

    assert [await take(store, f"a{n}") for n in range(3)] == [True, True, False]
    assert [await store.queue_position(f"a{n}") for n in range(3)] == [None, None, 1]


async def test_slots_are_limited_overall(store: AnyStore, make_job: MakeJob) -> None:
    for n in range(4):
        await store.add_job(make_job(f"j{n}", created_at=float(n), requester_id=f"u-{n}"))

    granted = [await take(store, f"j{n}", f"u-{n}", overall=3) for n in range(4)]

    assert granted == [True, True, True, False]


async def test_granting_is_idempotent(store: AnyStore, make_job: MakeJob) -> None:
    for n in range(2):
        await store.add_job(make_job(f"a{n}", created_at=float(n)))

    assert await take(store, "a0") and await take(store, "a0")
    assert await take(store, "a1")  # a0 counts once


async def test_an_older_waiting_job_of_the_requester_goes_first(
    store: AnyStore, make_job: MakeJob
) -> None:
    first = await store.add_job(make_job("a0", created_at=0.0))
    await store.add_job(make_job("a1", created_at=1.0))
    await store.add_job(make_job("a2", created_at=2.0))
    assert await take(store, "a0", per_user=1)
    assert not await take(store, "a1", per_user=1)

    await store.save_job(dataclasses.replace(first, state=JobState.POSTED, notified=True))

    assert not await take(store, "a2", per_user=1)  # a1 has waited longer
    assert await take(store, "a1", per_user=1)
    assert await store.queue_position("a2") == 1


async def test_others_are_not_held_up_by_a_user_at_their_limit(
    store: AnyStore, make_job: MakeJob
) -> None:
    await store.add_job(make_job("a0", created_at=0.0))
    await store.add_job(make_job("a1", created_at=1.0))
    await store.add_job(make_job("b0", created_at=2.0, requester_id="u-2"))
    await store.add_job(make_job("a9", created_at=3.0, workspace="guild-2"))
    assert await take(store, "a0", per_user=1)
    assert not await take(store, "a1", per_user=1)

    assert await take(store, "b0", "u-2", per_user=1)
    # The same user id in another workspace is another requester.
    assert await take(store, "a9", per_user=1, key=ELSEWHERE)


async def test_a_job_gives_its_slot_back_when_it_ends(store: AnyStore, make_job: MakeJob) -> None:
    running = await store.add_job(make_job("a0", created_at=0.0))
    await store.add_job(make_job("a1", created_at=1.0))
    assert await take(store, "a0", per_user=1)
    moved_on = await store.save_job(dataclasses.replace(running, state=JobState.SUBMITTED))
    assert not await take(store, "a1", per_user=1)  # still running: still holds it
    assert await store.slots_in_use() == 1

    # A Cancel pressed anywhere (unfenced) ends it too.
    await store.save_job(dataclasses.replace(moved_on, state=JobState.CANCELLED), fenced=False)

    assert await store.slots_in_use() == 0
    assert await take(store, "a1", per_user=1)
    assert not await take(store, "a0", per_user=1)  # an ended job gets none
    assert await store.slots_in_use() == 1


async def test_queue_positions_count_every_waiting_job_oldest_first(
    store: AnyStore, make_job: MakeJob
) -> None:
    await store.add_job(make_job("b0", created_at=3.0, requester_id="u-2"))
    for n in range(3):
        await store.add_job(make_job(f"a{n}", created_at=float(n)))
    await store.add_job(make_job("a3", created_at=2.0))  # same time as a2: after it
    await store.add_job(make_job("done", created_at=0.5, state=JobState.FAILED))
    assert await take(store, "a0", per_user=1)

    positions = {j: await store.queue_position(j) for j in ("a0", "a1", "a2", "a3", "b0")}

    assert positions == {"a0": None, "a1": 1, "a2": 2, "a3": 3, "b0": 4}
    assert await store.queue_position("done") is None
    assert await store.queue_position("nope") is None


async def test_an_unknown_job_gets_no_slot(store: AnyStore) -> None:
    with pytest.raises(KeyError):
        await take(store, "ghost")


async def test_slots_survive_a_restart(
    store: AnyStore, database: Database, make_job: MakeJob
) -> None:
    for n in range(3):
        await store.add_job(make_job(f"a{n}", created_at=float(n)))
    assert await take(store, "a0") and await take(store, "a1")

    async with await database.open(owner="replica-b") as other:
        assert not await take(other, "a2")
        assert await take(other, "a1")  # still held
        assert await other.queue_position("a2") == 1


async def test_stores_asking_at_once_never_exceed_the_limits(
    database: Database, make_job: MakeJob
) -> None:
    """Two stores on one database (two replicas on PostgreSQL) ask for slots for 60
    jobs of 4 users concurrently, in shuffled order: the grants stay within 3 per user
    and 5 overall, every time."""
    a = await database.open(owner="replica-a")
    b = await database.open(owner="replica-b")
    async with a, b:
        jobs = [
            await a.add_job(make_job(f"j{n:02}", created_at=float(n), requester_id=f"u-{n % 4}"))
            for n in range(60)
        ]
        for round_ in range(8):
            order = random.Random(round_).sample(jobs, len(jobs))
            results = await asyncio.gather(
                *(
                    take(store, job.id, job.requester_id, per_user=3, overall=5)
                    for job, store in zip(order, itertools.cycle((a, b)), strict=False)
                )
            )
            granted = [job for job, ok in zip(order, results, strict=True) if ok]
            per_user = Counter(job.requester_id for job in granted)
            assert len(granted) <= 5 and max(per_user.values(), default=0) <= 3
            waiting = [await a.queue_position(job.id) for job in jobs]
            assert sum(p is None for p in waiting) == len(granted)
            # End the granted jobs: their slots go to others in the next round.
            for job in granted:
                current = await a.get_job(job.id)
                assert current is not None
                await a.save_job(dataclasses.replace(current, state=JobState.POSTED), fenced=False)
            jobs = [job for job in jobs if job not in granted]


async def test_shared_slots_ask_for_a_users_oldest_job_whatever_order_it_came_in(
    pg: PostgresDatabase, make_job: MakeJob
) -> None:
    """A burst's jobs reach the queue in the order their intake finished, not the order
    they were created in: the pump still asks for each user's oldest, so none waits on a
    refusal that repeats forever."""
    async with await pg.open() as store:
        running = await store.add_job(make_job("a0", created_at=0.0))
        older = await store.add_job(make_job("a1", created_at=1.0))
        newer = await store.add_job(make_job("a2", created_at=2.0))
        slots = SharedSlots(store, per_user=1, overall=10, poll_interval=0.05)
        try:
            assert await slots.enqueue(running) is None
            assert await slots.enqueue(newer) == 2  # came in first, created later
            assert await slots.enqueue(older) == 1

            await store.save_job(dataclasses.replace(running, state=JobState.POSTED))
            slots.release(running.id)

            async with asyncio.timeout(10):
                assert await slots.acquire(older)
            assert slots.running == 1 and slots.waiting == 1  # a2 waits for a1
            assert await store.queue_position(newer.id) == 1
        finally:
            await slots.aclose()
