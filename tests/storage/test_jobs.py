"""Jobs: round-trip, duplicates, compare-and-set writes, what a start resumes (and what it
quarantines), history, pruning, durability across reopen."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import pytest

from bot.backend.types import ResultFile, Task
from bot.chat import ActionKind
from bot.command import ImagineParams, ReferenceSource
from bot.jobs import TERMINAL_STATES, ChannelKey, ChannelSettings, Job, JobState
from bot.store import JobStore, StaleJob
from storage import StoreClosedError
from tests.storage.conftest import AnyStore, Database, claim_at_restart, ids_at_restart

MakeJob = Callable[..., Job]


def full_job() -> Job:
    """A job with every field set to a non-default, awkward value."""
    return Job(
        id="k3f9q2",
        platform="slack",
        workspace="T0001",
        channel="C0002",
        thread="1700000000.000100",
        status_message_id="1700000000.000200",
        requester_id="U0003",
        requester_name="Zoë 'quotes' \"double\"",
        params=ImagineParams(
            prompt="a café at night, 東京, emoji 🌃; DROP TABLE jobs; --",
            width=1536,
            height=1024,
            steps=37,
            style="watercolor",
            count=4,
            negative_prompt="blurry, text",
            seed=2**53 + 1,
            aspect_ratio="3:2",
            task=Task.UPSCALE,
            reference=ReferenceSource(job_id="parent", index=2),
            reference_weight=0.8,
            seconds=4.5,
        ),
        state=JobState.COMPLETED,
        created_at=1_700_000_000.123456,
        updated_at=1_700_000_042.654321,
        version=1,
        backend="comfyui",
        scope="proj-9",
        submission='{"host": "http://gpu1:8188", "prompt_id": "p-1"}',
        results=(
            ResultFile("https://cdn.example/a.png", 11, "image/png"),
            ResultFile(None, 12, None, error="CUDA out of memory"),
            ResultFile("https://cdn.example/b.png?x=1&y=2", 13, "image/webp"),
        ),
        posted_message_ids=("m1", "m2"),
        attempts=3,
        error="backend said: 503 \n retrying",
        notified=True,
        parent_job_id="parent",
        parent_index=2,
        action=ActionKind.UPSCALE,
        cancelled_by="U0004",
        deleted_by="U0005",
    )


async def test_job_with_every_field_round_trips(store: AnyStore, make_job: MakeJob) -> None:
    core_view: JobStore = store  # mypy checks that it satisfies the core's protocol
    await core_view.add_job(make_job("parent"))
    job = full_job()
    await core_view.add_job(job)

    loaded = await core_view.get_job("k3f9q2")

    assert loaded == job
    assert loaded is not None
    assert isinstance(loaded.state, JobState)
    assert isinstance(loaded.action, ActionKind)
    assert isinstance(loaded.params.task, Task)
    assert isinstance(loaded.results, tuple)
    assert isinstance(loaded.posted_message_ids, tuple)
    assert loaded.params.seed == 2**53 + 1


async def test_a_new_job_starts_at_version_1(store: AnyStore, make_job: MakeJob) -> None:
    added = await store.add_job(make_job("fresh1"))
    assert added.version == 1
    assert await store.get_job("fresh1") == added


async def test_missing_job_is_none(store: AnyStore) -> None:
    assert await store.get_job("nope") is None


async def test_duplicate_id_raises_key_error_and_keeps_first(
    store: AnyStore, make_job: MakeJob
) -> None:
    first = await store.add_job(make_job("dup111", requester_name="first"))

    with pytest.raises(KeyError):
        await store.add_job(make_job("dup111", requester_name="second"))

    assert await store.get_job("dup111") == first
    # The store is still usable after the failed insert.
    await store.add_job(make_job("dup222"))
    assert await store.get_job("dup222") is not None


async def test_save_job_overwrites_every_field(store: AnyStore, make_job: MakeJob) -> None:
    await store.add_job(make_job("parent"))
    await store.add_job(make_job("k3f9q2"))
    updated = full_job()

    saved = await store.save_job(updated)

    assert saved == dataclasses.replace(updated, version=2)
    assert await store.get_job("k3f9q2") == saved
    # ...and can clear optional fields again.
    cleared = dataclasses.replace(
        saved, thread=None, error=None, results=(), parent_job_id=None, scope=None, action=None
    )
    assert await store.save_job(cleared) == dataclasses.replace(cleared, version=3)
    assert await store.get_job("k3f9q2") == dataclasses.replace(cleared, version=3)


async def test_a_write_from_an_older_version_is_refused(store: AnyStore, make_job: MakeJob) -> None:
    """Compare-and-set: of two writers that read the same version, only the first wins,
    so a state can never move backwards."""
    read = await store.add_job(make_job("race01"))
    cancelled = await store.save_job(
        dataclasses.replace(read, state=JobState.CANCELLED), fenced=False
    )

    with pytest.raises(StaleJob):
        await store.save_job(dataclasses.replace(read, state=JobState.SUBMITTED))

    assert await store.get_job("race01") == cancelled


async def test_save_unknown_job_raises_key_error(store: AnyStore, make_job: MakeJob) -> None:
    with pytest.raises(KeyError):
        await store.save_job(make_job("ghost1", version=1))
    assert await store.get_job("ghost1") is None


async def test_reroll_of_unknown_parent_is_refused(store: AnyStore, make_job: MakeJob) -> None:
    # foreign_keys=ON: a re-roll must point at a stored job.
    with pytest.raises(ValueError, match="missing"):
        await store.add_job(make_job("child1", parent_job_id="missing"))
    assert await store.get_job("child1") is None


async def test_a_start_claims_unfinished_jobs_and_untold_endings_oldest_first(
    store: AnyStore, database: Database, make_job: MakeJob
) -> None:
    # Insert out of creation order, one job per state; endings told or not.
    created = {
        JobState.SUBMITTED: 30.0,
        JobState.POSTED: 5.0,
        JobState.ACCEPTED: 20.0,
        JobState.FAILED: 1.0,
        JobState.COMPLETED: 10.0,
        JobState.TIMED_OUT: 2.0,
        JobState.PREPARED: 40.0,
        JobState.SUBMITTING: 45.0,
        JobState.UNDELIVERABLE: 3.0,
        JobState.CANCELLED: 4.0,
    }
    for state, at in created.items():
        await store.add_job(make_job(f"j-{state.value}", created_at=at, state=state, notified=True))
    await store.add_job(
        make_job("untold", created_at=0.5, state=JobState.FAILED, error="boom", notified=False)
    )

    claimed = await claim_at_restart(database, store)

    assert [j.id for j in claimed.jobs] == [
        "untold",
        "j-completed",
        "j-accepted",
        "j-submitted",
        "j-prepared",
        "j-submitting",
    ]
    assert claimed.quarantined == []
    async with await database.open() as restarted:
        assert [j.id for j in await restarted.unfinished_jobs()] == [
            j.id for j in claimed.jobs if j.state not in TERMINAL_STATES
        ]


async def test_an_unreadable_row_is_quarantined_and_the_rest_resume(
    store: AnyStore, database: Database, make_job: MakeJob
) -> None:
    await store.add_job(make_job("good01", created_at=1.0))
    await store.add_job(make_job("bad001", created_at=2.0, thread="T9"))
    await store.add_job(make_job("good02", created_at=3.0))
    # Damaged behind the store's back (another process, a bad manual edit).
    await database.execute("UPDATE jobs SET params = '{not json' WHERE id = 'bad001'")

    claimed = await claim_at_restart(database, store)

    assert [j.id for j in claimed.jobs] == ["good01", "good02"]
    [bad] = claimed.quarantined
    assert (bad.id, bad.platform, bad.channel, bad.thread, bad.requester_id) == (
        "bad001",
        "discord",
        "chan-1",
        "T9",
        "u-1",
    )
    assert "params" in bad.reason or "JSON" in bad.reason or "Expecting" in bad.reason
    # Set aside for good: not claimed again, and unknown to lookups.
    async with await database.open() as restarted:
        assert await ids_at_restart(database, restarted) == ["good01", "good02"]
    async with await database.open() as restarted:
        assert await restarted.get_job("bad001") is None


async def test_finishing_a_job_removes_it_from_unfinished(
    store: AnyStore, database: Database, make_job: MakeJob
) -> None:
    job = await store.add_job(make_job("done01", state=JobState.COMPLETED))
    assert await ids_at_restart(database, store) == ["done01"]
    restarted = await database.open()
    job = await restarted.get_job("done01") or job  # (a claim moves the version on)

    await restarted.save_job(dataclasses.replace(job, state=JobState.POSTED, notified=True))

    assert await ids_at_restart(database, restarted) == []


async def test_same_created_at_keeps_insertion_order(
    store: AnyStore, database: Database, make_job: MakeJob
) -> None:
    for job_id in ["c", "a", "b"]:
        await store.add_job(make_job(job_id, created_at=7.0))
    assert await ids_at_restart(database, store) == ["c", "a", "b"]


async def test_recent_jobs_are_the_requesters_newest_first(
    store: AnyStore, make_job: MakeJob
) -> None:
    for n in range(12):
        await store.add_job(make_job(f"mine{n:02}", created_at=float(n)))
    await store.add_job(make_job("theirs", created_at=50.0, requester_id="u-2"))
    await store.add_job(make_job("elsewh", created_at=60.0, workspace="guild-2"))

    recent = await store.recent_jobs(ChannelKey("discord", "guild-1", "any"), "u-1", 10)

    assert [j.id for j in recent] == [f"mine{n:02}" for n in range(11, 1, -1)]


async def test_the_rate_limit_counts_the_requesters_jobs_in_the_workspace_since_then(
    store: AnyStore, make_job: MakeJob
) -> None:
    for n in range(5):
        await store.add_job(make_job(f"mine{n}", created_at=float(n), channel=f"chan-{n}"))
    await store.add_job(make_job("theirs", created_at=4.0, requester_id="u-2"))
    await store.add_job(make_job("elsewh", created_at=4.0, workspace="guild-2"))

    key = ChannelKey("discord", "guild-1", "any")
    assert await store.count_jobs_since(key, "u-1", 2.0) == 3
    assert await store.count_jobs_since(key, "u-1", 5.0) == 0
    assert await store.count_jobs_since(key, "u-3", 0.0) == 0


async def test_pruning_removes_only_old_jobs_that_need_nothing_more(
    store: AnyStore, make_job: MakeJob
) -> None:
    await store.add_job(make_job("oldpst", created_at=1.0, state=JobState.POSTED, notified=True))
    await store.add_job(make_job("oldfai", created_at=1.0, state=JobState.FAILED, notified=True))
    await store.add_job(make_job("untold", created_at=1.0, state=JobState.FAILED))
    await store.add_job(make_job("oldrun", created_at=1.0, state=JobState.SUBMITTED))
    await store.add_job(make_job("newpst", created_at=9.0, state=JobState.POSTED, notified=True))

    assert await store.prune_jobs(before=5.0) == 2

    left = {j: await store.get_job(j) is not None for j in ("oldpst", "oldfai", "untold")}
    assert left == {"oldpst": False, "oldfai": False, "untold": True}
    assert await store.get_job("oldrun") is not None and await store.get_job("newpst")


async def test_data_survives_close_and_reopen(database: Database, make_job: MakeJob) -> None:
    key = ChannelKey("discord", "g", "c")
    async with await database.open() as first:
        await first.add_job(make_job("parent"))
        await first.add_job(full_job())
        await first.set_scope("superduper", key, "proj-1")
        await first.set_channel_settings(key, ChannelSettings(steps=8))

    async with await database.open() as second:
        assert await second.get_job("k3f9q2") == full_job()
        assert await second.get_scope("superduper", key) == "proj-1"
        assert await second.get_channel_settings(key) == ChannelSettings(steps=8)


async def test_closed_store_refuses_use(database: Database, make_job: MakeJob) -> None:
    store = await database.open()
    await store.aclose()
    await store.aclose()  # idempotent

    with pytest.raises(StoreClosedError, match="closed"):
        await store.add_job(make_job("late01"))
