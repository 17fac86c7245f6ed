"""Jobs: round-trip, duplicates, updates, resume order, durability across reopen."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.command import ImagineParams
from bot.jobs import TERMINAL_STATES, ChannelKey, ChannelSettings, Job, JobState
from bot.store import JobStore
from storage import SqliteJobStore, StoreClosedError

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
        ),
        state=JobState.COMPLETED,
        created_at=1_700_000_000.123456,
        updated_at=1_700_000_042.654321,
        project_id="proj-9",
        file_ids=("file-a", "file-b", "file-c"),
        result_urls=("https://cdn.example/a.png", "https://cdn.example/b.png?x=1&y=2"),
        posted_message_ids=("m1", "m2"),
        attempts=3,
        error="backend said: 503 \n retrying",
        parent_job_id="parent",
    )


async def test_job_with_every_field_round_trips(store: SqliteJobStore, make_job: MakeJob) -> None:
    core_view: JobStore = store  # mypy checks that it satisfies the core's protocol
    await core_view.add_job(make_job("parent"))
    job = full_job()
    await core_view.add_job(job)

    loaded = await core_view.get_job("k3f9q2")

    assert loaded == job
    assert loaded is not None
    assert isinstance(loaded.state, JobState)
    assert isinstance(loaded.file_ids, tuple)
    assert isinstance(loaded.result_urls, tuple)
    assert isinstance(loaded.posted_message_ids, tuple)
    assert loaded.params.seed == 2**53 + 1


async def test_missing_job_is_none(store: SqliteJobStore) -> None:
    assert await store.get_job("nope") is None


async def test_duplicate_id_raises_key_error_and_keeps_first(
    store: SqliteJobStore, make_job: MakeJob
) -> None:
    first = make_job("dup111", requester_name="first")
    await store.add_job(first)

    with pytest.raises(KeyError):
        await store.add_job(make_job("dup111", requester_name="second"))

    assert await store.get_job("dup111") == first
    # The store is still usable after the failed insert.
    await store.add_job(make_job("dup222"))
    assert await store.get_job("dup222") is not None


async def test_save_job_overwrites_every_field(store: SqliteJobStore, make_job: MakeJob) -> None:
    await store.add_job(make_job("parent"))
    await store.add_job(make_job("k3f9q2"))
    updated = full_job()

    await store.save_job(updated)

    assert await store.get_job("k3f9q2") == updated
    # ...and can clear optional fields again.
    cleared = dataclasses.replace(
        updated, thread=None, error=None, file_ids=(), parent_job_id=None, project_id=None
    )
    await store.save_job(cleared)
    assert await store.get_job("k3f9q2") == cleared


async def test_save_unknown_job_raises_key_error(store: SqliteJobStore, make_job: MakeJob) -> None:
    with pytest.raises(KeyError):
        await store.save_job(make_job("ghost1"))
    assert await store.get_job("ghost1") is None


async def test_reroll_of_unknown_parent_is_refused(
    store: SqliteJobStore, make_job: MakeJob
) -> None:
    # foreign_keys=ON: a re-roll must point at a stored job.
    with pytest.raises(ValueError, match="missing"):
        await store.add_job(make_job("child1", parent_job_id="missing"))
    assert await store.get_job("child1") is None


async def test_unfinished_jobs_are_non_terminal_oldest_first(
    store: SqliteJobStore, make_job: MakeJob
) -> None:
    # Insert out of creation order, one job per state.
    created = {
        JobState.SUBMITTED: 30.0,
        JobState.POSTED: 5.0,
        JobState.ACCEPTED: 20.0,
        JobState.FAILED: 1.0,
        JobState.COMPLETED: 10.0,
        JobState.TIMED_OUT: 2.0,
        JobState.PROJECT_READY: 40.0,
        JobState.UNDELIVERABLE: 3.0,
    }
    for state, at in created.items():
        await store.add_job(make_job(f"j-{state.value}", created_at=at, state=state))

    unfinished = await store.unfinished_jobs()

    assert [j.id for j in unfinished] == [
        "j-completed",
        "j-accepted",
        "j-submitted",
        "j-project_ready",
    ]
    assert all(j.state not in TERMINAL_STATES for j in unfinished)


async def test_finishing_a_job_removes_it_from_unfinished(
    store: SqliteJobStore, make_job: MakeJob
) -> None:
    job = make_job("done01", state=JobState.COMPLETED)
    await store.add_job(job)
    assert [j.id for j in await store.unfinished_jobs()] == ["done01"]

    await store.save_job(dataclasses.replace(job, state=JobState.POSTED))

    assert await store.unfinished_jobs() == []


async def test_same_created_at_keeps_insertion_order(
    store: SqliteJobStore, make_job: MakeJob
) -> None:
    for job_id in ["c", "a", "b"]:
        await store.add_job(make_job(job_id, created_at=7.0))
    assert [j.id for j in await store.unfinished_jobs()] == ["c", "a", "b"]


async def test_data_survives_close_and_reopen(db_path: Path, make_job: MakeJob) -> None:
    key = ChannelKey("discord", "g", "c")
    async with await SqliteJobStore.open(db_path) as first:
        await first.add_job(make_job("parent"))
        await first.add_job(full_job())
        await first.set_project(key, "proj-1")
        await first.set_channel_settings(key, ChannelSettings(steps=8))

    async with await SqliteJobStore.open(db_path) as second:
        assert await second.get_job("k3f9q2") == full_job()
        assert await second.get_project(key) == "proj-1"
        assert await second.get_channel_settings(key) == ChannelSettings(steps=8)


async def test_closed_store_refuses_use(db_path: Path, make_job: MakeJob) -> None:
    store = await SqliteJobStore.open(db_path)
    await store.aclose()
    await store.aclose()  # idempotent

    with pytest.raises(StoreClosedError, match="closed"):
        await store.add_job(make_job("late01"))
