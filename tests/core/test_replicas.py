"""Replicas on one PostgreSQL database: two real bots (each with its own store, backend
and WebSocket) on a throwaway cluster, one emulator, and one recording "platform" both
post to (as replicas share Slack's or Discord's REST API).

A replica "dies" by leaving its context: its runs are cancelled and its store closed
without a word to the database — what a ``kill -9`` leaves too (leases that run out).
The process-level proof (real ``kill -9``, three replicas) is the replica crash loop."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import asyncpg

from bot.backend.superduper import SuperDuperBackend, make_http_client
from bot.backend.types import Media, ResultFile
from bot.chat import ActionInvocation, ActionKind, Requester
from bot.command import ImagineParams
from bot.config import BotConfig
from bot.jobs import Job, JobState
from bot.service import ImagineBot
from emulator.superduper import Emulator
from storage import PostgresJobStore
from tests.support.harness import emulator_config, fast_bot_config, fast_service, invocation
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import file_ids
from tests.support.waiting import job_in_state, until

LEASE = 3.0
"""Short, so a takeover comes within seconds; the heartbeat runs every second."""
OWNER = Requester("U1", "user U1")


def replica_config(**overrides: object) -> BotConfig:
    knobs: dict[str, object] = dict(lease_renew_interval=LEASE / 3, slot_poll_interval=0.1)
    knobs.update(overrides)
    return fast_bot_config(**knobs)


@dataclass
class Replica:
    name: str
    bot: ImagineBot
    store: PostgresJobStore
    backend: SuperDuperBackend


class StalledDownloads(SuperDuperBackend):
    """Downloads wait at a gate (a replica stalling between a result and its post)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.reached = asyncio.Event()
        self.gate = asyncio.Event()

    async def download(self, result: ResultFile) -> Media:
        self.reached.set()
        await self.gate.wait()
        return await super().download(result)


@asynccontextmanager
async def replica(
    url: str,
    emulator: Emulator,
    chat: RecordingChat,
    name: str,
    config: BotConfig | None = None,
    backend_type: type[SuperDuperBackend] = SuperDuperBackend,
) -> AsyncIterator[Replica]:
    service = fast_service(emulator)
    async with make_http_client(service) as http:
        store = await PostgresJobStore.open(url, owner=name, lease_seconds=LEASE)
        backend = backend_type(service, http=http)
        await backend.start()
        bot = ImagineBot(
            store=store, backends={backend.name: backend}, config=config or replica_config()
        )
        bot.add_chat(chat)
        try:
            await bot.start()
            yield Replica(name, bot, store, backend)
        finally:
            await bot.aclose()
            await backend.aclose()
            await store.aclose()


async def owner_of(url: str, job_id: str) -> str | None:
    conn = await asyncpg.connect(url)
    try:
        owner: str | None = await conn.fetchval("SELECT owner FROM jobs WHERE id = $1", job_id)
        return owner
    finally:
        await conn.close()


async def held_by(url: str, job_id: str, name: str, *, timeout: float = 20.0) -> None:
    """Poll the database (nothing tells the test) until ``name`` holds the job."""
    async with asyncio.timeout(timeout):
        while True:
            if await owner_of(url, job_id) == name:
                return
            await asyncio.sleep(0.05)


def cancel_press(chat: RecordingChat, job_id: str) -> ActionInvocation:
    [handle] = chat.threads
    return ActionInvocation(
        handle.conversation, OWNER, ActionKind.CANCEL, job_id, handle.status_message_id
    )


async def test_a_dead_replicas_job_is_taken_over_and_posted_once_in_its_thread(
    postgres_url: str,
) -> None:
    chat = RecordingChat()
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with replica(postgres_url, emulator, chat, "replica-b") as b:
            async with replica(postgres_url, emulator, chat, "replica-a") as a:
                job_id = await a.bot.imagine(invocation("a fox that outlives its replica"))
                assert job_id is not None
                submitted = await job_in_state(a.store, job_id, JobState.SUBMITTED)
            assert chat.images == []  # replica-a died before the service finished

            await held_by(postgres_url, job_id, "replica-b")  # its lease ran out
            await emulator.finish(file_ids(submitted)[0])
            posted = await job_in_state(b.store, job_id, JobState.POSTED, timeout=20)
            # Its run ends after the post is recorded, with the status edit below.
            await until(lambda: bool(chat.images) and b.bot.pending == 0)

    [thread] = chat.threads
    [image] = chat.images
    assert image.where == thread.conversation  # in the thread replica-a opened
    assert image.data[:8] == b"\x89PNG\r\n\x1a\n"
    assert posted.posted_message_ids == (image.message_id,)
    assert sum(emulator.counters.generations.values()) == 1  # resumed, not generated again
    assert emulator.counters.deduplicated_generations == 0
    assert "done" in chat.status[thread.status_message_id][-1]


async def test_a_replica_that_lost_a_job_before_posting_it_leaves_the_post_to_its_holder(
    postgres_url: str,
) -> None:
    """replica-a stalls between downloading a result and posting it, past its lease
    (no heartbeat comes); replica-b takes the job over. replica-a's last word before the
    post is refused, so the image is posted once, by replica-b."""
    chat = RecordingChat()
    stalled = replica_config(lease_renew_interval=3600.0)
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with (
            replica(postgres_url, emulator, chat, "replica-a", stalled, StalledDownloads) as a,
            replica(postgres_url, emulator, chat, "replica-b") as b,
        ):
            job_id = await a.bot.imagine(invocation("a fox caught napping"))
            assert job_id is not None
            submitted = await job_in_state(a.store, job_id, JobState.SUBMITTED)
            await emulator.finish(file_ids(submitted)[0])
            stalling = a.backend
            assert isinstance(stalling, StalledDownloads)
            await asyncio.wait_for(stalling.reached.wait(), 20)

            await held_by(postgres_url, job_id, "replica-b")
            await job_in_state(b.store, job_id, JobState.POSTED, timeout=20)
            stalling.gate.set()
            await a.bot.drain()  # its run ends on the refused write

    [image] = chat.images
    assert image.where == chat.threads[0].conversation
    assert sum(emulator.counters.generations.values()) == 1


async def test_cancel_pressed_on_another_replica_stops_the_run_and_is_told_once(
    postgres_url: str,
) -> None:
    chat = RecordingChat()
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with (
            replica(postgres_url, emulator, chat, "replica-a") as a,
            replica(postgres_url, emulator, chat, "replica-b") as b,
        ):
            job_id = await a.bot.imagine(invocation("a fox nobody wants any more"))
            assert job_id is not None
            submitted = await job_in_state(a.store, job_id, JobState.SUBMITTED)

            await b.bot.act(cancel_press(chat, job_id))
            await until(lambda: a.bot.pending == 0, timeout=20)  # replica-a let go of it
            await emulator.finish(file_ids(submitted)[0])  # the service finishes anyway
            await b.bot.drain()
            cancelled = await b.store.get_job(job_id)
            assert await owner_of(postgres_url, job_id) == "replica-b"

    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert cancelled.cancelled_by == "U1" and cancelled.notified
    assert chat.images == []
    notices = [t for _, t in chat.texts if "was cancelled by <@U1>" in t]
    assert len(notices) == 1


async def test_a_users_running_limit_holds_across_replicas(postgres_url: str) -> None:
    chat = RecordingChat()
    config = replica_config(max_jobs_per_user=1)
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with (
            replica(postgres_url, emulator, chat, "replica-a", config) as a,
            replica(postgres_url, emulator, chat, "replica-b", config) as b,
        ):
            first = await a.bot.imagine(invocation("the first fox"))
            assert first is not None
            first_job = await job_in_state(a.store, first, JobState.SUBMITTED)
            second = await b.bot.imagine(invocation("the second fox"))
            assert second is not None
            queued = chat.threads[1].status_message_id
            assert "queued, position 1" in chat.status[queued][0]
            assert (await b.store.get_job(second)).state is JobState.ACCEPTED  # type: ignore[union-attr]
            assert emulator.counters.generations["the second fox"] == 0

            await emulator.finish(file_ids(first_job)[0])
            second_job = await job_in_state(b.store, second, JobState.SUBMITTED, timeout=20)
            await emulator.finish(file_ids(second_job)[0])
            await job_in_state(b.store, second, JobState.POSTED, timeout=20)
            await until(lambda: len(chat.images) == 2)

    assert [i.where.thread for i in chat.images] == [t.conversation.thread for t in chat.threads]
    assert dict(emulator.counters.generations) == {"the first fox": 1, "the second fox": 1}


async def test_two_replicas_in_one_new_channel_make_one_project(postgres_url: str) -> None:
    chat = RecordingChat()
    # A slow service: both replicas find no project and ask for one at the same time.
    async with (
        Emulator(emulator_config(response_delay=0.5)) as emulator,
        replica(postgres_url, emulator, chat, "replica-a") as a,
        replica(postgres_url, emulator, chat, "replica-b") as b,
    ):
        ids = await asyncio.gather(
            a.bot.imagine(invocation("a fox from the left", user="U1")),
            b.bot.imagine(invocation("a fox from the right", user="U2")),
        )
        jobs = [await job_in_state(a.store, i or "", JobState.POSTED) for i in ids]

    assert emulator.counters.requests["POST /api/projects"] == 2
    assert len(emulator.projects) == 1  # the second request was answered as a replay
    assert {j.scope for j in jobs} == set(emulator.projects)


async def test_a_held_job_without_a_run_is_resumed_by_the_heartbeat(
    postgres_url: str, emulator: Emulator
) -> None:
    """E.g. its run gave up on a flapping database: the next heartbeats find it held
    here and idle, and run it at its step (here: before its thread was opened)."""
    chat = RecordingChat()
    async with replica(postgres_url, emulator, chat, "replica-a") as a:
        now = time.time()
        idle = await a.store.add_job(
            Job(
                id="idle01",
                platform="test",
                workspace="W1",
                channel="C1",
                requester_id="U1",
                requester_name="user U1",
                params=ImagineParams("a fox left idle", 512, 512, 20, "none", seed=7),
                state=JobState.ACCEPTED,
                created_at=now,
                updated_at=now,
            )
        )
        posted = await job_in_state(a.store, idle.id, JobState.POSTED, timeout=20)

    [thread] = chat.threads
    [image] = chat.images
    assert image.where == thread.conversation
    assert posted.posted_message_ids == (image.message_id,)
