"""Exactly once, end to end through the real core, emulator and SQLite file: what the
service is asked to do, what the user sees, across crashes at the worst moments.

A "crash" is ``FaultyStore`` ending the job's task at a chosen write (see its docstring);
the "restart" is a second harness on the same database and the same chat. Tests taking
``service`` run on SuperDuper and on ComfyUI; ``emulator`` ones are about SuperDuper only."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from pathlib import Path

from bot.chat import (
    Action,
    ActionKind,
    Conversation,
    DeliveryError,
    Invocation,
    ThreadHandle,
    Upload,
)
from bot.jobs import Job, JobState
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.support.clock import ManualClock
from tests.support.drivers import Service, SuperDuperDriver
from tests.support.faulty_store import FaultyStore
from tests.support.harness import StoreWrapper, fast_bot_config, invocation, open_harness
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import file_ids
from tests.support.waiting import job_in_state, until


def crash_at(state: JobState, *, after: bool = False) -> tuple[list[FaultyStore], StoreWrapper]:
    """A ``wrap_store`` that crashes at the first write of ``state`` (the stores it made are
    listed, to wait for the crash)."""
    made: list[FaultyStore] = []

    def hit(job: Job) -> bool:
        return job.state is state

    def wrap(inner: SqliteJobStore) -> FaultyStore:
        store = (
            FaultyStore(inner, crash_after=hit) if after else FaultyStore(inner, crash_before=hit)
        )
        made.append(store)
        return store

    return made, wrap


async def only_job(db: Path) -> Job:
    conn = sqlite3.connect(db)
    try:
        [(job_id,)] = conn.execute("SELECT id FROM jobs").fetchall()
    finally:
        conn.close()
    async with await SqliteJobStore.open(db) as store:
        job = await store.get_job(job_id)
    assert job is not None
    return job


async def resumed_after_a_crash_at_submitted(
    service: Service, db: Path, chat: RecordingChat, prompt: str
) -> Job:
    """The service got the generation request and the bot died before writing
    ``submitted``; a second bot resumed the job to its end."""
    made, wrap = crash_at(JobState.SUBMITTED)
    async with open_harness(service, db, [chat], wrap_store=wrap) as h:
        await h.bot.imagine(invocation(prompt))
        await asyncio.wait_for(made[0].crashed.wait(), 10)
        [stuck] = await h.store.unfinished_jobs()
        assert stuck.state is JobState.SUBMITTING
    assert service.generations(prompt) == 1

    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
        job = await h2.store.get_job(stuck.id)
    assert job is not None
    return job


async def test_a_crash_right_after_the_generation_request_does_not_generate_twice(
    service: Service, tmp_path: Path
) -> None:
    """The resumed job finds the earlier request instead of making another: SuperDuper
    answers the same Idempotency-Key with the same file; ComfyUI has the prompt in its
    queue or history, so it is not sent again."""
    chat, prompt = RecordingChat(), "a fox that is paid for once"
    job = await resumed_after_a_crash_at_submitted(service, tmp_path / "bot.db", chat, prompt)

    assert job.state is JobState.POSTED
    assert service.generations(prompt) == 1  # one generation, one bill
    assert len(chat.images) == 1


async def test_superduper_answers_a_resumed_request_from_its_idempotency_key(
    emulator: Emulator, tmp_path: Path
) -> None:
    chat, prompt = RecordingChat(), "a fox asked for twice"
    driver = SuperDuperDriver(emulator)
    job = await resumed_after_a_crash_at_submitted(driver, tmp_path / "bot.db", chat, prompt)

    assert job.state is JobState.POSTED
    assert emulator.counters.requests["POST /api/generation/image"] == 2
    assert emulator.counters.deduplicated_generations == 1


async def test_a_job_resumed_past_its_deadline_is_not_paid_for(
    service: Service, tmp_path: Path
) -> None:
    db, chat, prompt = tmp_path / "bot.db", RecordingChat(), "a fox too late"
    clock = ManualClock(1_800_000_000.0)
    config = fast_bot_config(job_timeout=60.0)
    made, wrap = crash_at(JobState.SUBMITTING)
    async with open_harness(service, db, [chat], wrap_store=wrap, clock=clock, config=config) as h:
        await h.bot.imagine(invocation(prompt))
        await asyncio.wait_for(made[0].crashed.wait(), 10)

    clock.advance(61.0)  # the bot was down past the job's deadline
    async with open_harness(service, db, [chat], clock=clock, config=config) as h2:
        await h2.bot.drain()
        job = await only_job(db)

    assert job.state is JobState.TIMED_OUT and job.notified
    assert service.generations(prompt) == 0
    assert service.submissions() == 0
    [(where, text)] = chat.texts
    assert where.thread == job.thread and "gave up" in text and job.id in text


async def test_starting_twice_runs_each_resumed_job_once(service: Service, tmp_path: Path) -> None:
    """A job can never be spawned twice in one process (two claims, two starts)."""
    db, chat = tmp_path / "bot.db", RecordingChat()
    service.hold()
    async with open_harness(service, db, [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox started twice")) or ""
        submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)

    async with open_harness(service, db, [chat], start=False) as h2:
        resumed = await asyncio.gather(h2.bot.start(), h2.bot.start())
        assert list(resumed) == [1, 1]
        await service.complete(submitted)
        await h2.bot.drain()

    assert [i.dedupe_key for i in chat.images] == [f"{job_id}:0"]


class SlowPlatform(RecordingChat):
    """The platform takes the upload at once but answers only when ``answer`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.answer = asyncio.Event()
        self.uploading = asyncio.Event()

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        message_id = await super().post_media(where, upload, caption, actions, dedupe_key)
        self.uploading.set()
        await self.answer.wait()
        return message_id


async def test_a_shutdown_during_a_post_lets_it_finish_and_be_recorded(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", SlowPlatform()
    async with open_harness(service, db, [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox mid-upload")) or ""
        await asyncio.wait_for(chat.uploading.wait(), 10)
        closing = asyncio.create_task(h.bot.aclose(grace=10))
        await asyncio.sleep(0)  # let the shutdown cancel the job's task
        assert not closing.done()  # it waits for the upload under way
        chat.answer.set()
        await closing
        recorded = await h.store.get_job(job_id)
        assert recorded is not None and recorded.posted_message_ids == (chat.images[0].message_id,)

    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
        job = await h2.store.get_job(job_id)
    assert job is not None and job.state is JobState.POSTED
    assert len(chat.images) == 1  # not posted again after the restart


class DownPlatform(RecordingChat):
    """Refuses every text message while ``down`` (the platform is having an outage)."""

    def __init__(self) -> None:
        super().__init__()
        self.down = True

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        if self.down:
            raise DeliveryError("the platform is down", permanent=False)
        return await super().post_text(where, text, actions)

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        if self.down:
            raise DeliveryError("the platform is down", permanent=False)
        await super().notify_user(where, user_id, text, invocation)


async def test_a_failure_notice_that_could_not_be_delivered_is_sent_after_a_restart(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", DownPlatform()
    service.fail_generations()
    async with open_harness(service, db, [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox that fails")) or ""
        failed = await h.bot.wait_for(job_id)
        assert failed is not None and failed.state is JobState.FAILED and not failed.notified
        assert chat.texts == [] and chat.notes == []

    chat.down = False
    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
        job = await h2.store.get_job(job_id)

    assert job is not None and job.notified
    [notice] = chat.posts
    assert notice.where.thread == job.thread
    assert f"Job `{job_id}` failed" in notice.text
    assert [a.kind for a in notice.actions] == [ActionKind.REROLL]


async def test_a_crash_between_recording_a_failure_and_telling_is_told_once_after(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", RecordingChat()
    service.fail_generations()
    made, wrap = crash_at(JobState.FAILED, after=True)
    async with open_harness(service, db, [chat], wrap_store=wrap) as h:
        await h.bot.imagine(invocation("a fox that fails quietly"))
        await asyncio.wait_for(made[0].crashed.wait(), 10)
    assert chat.texts == []

    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
    job = await only_job(db)
    assert job.state is JobState.FAILED and job.notified
    assert [t for _, t in chat.texts if "failed" in t] == [chat.texts[0][1]]


async def test_an_unreadable_job_row_is_set_aside_and_the_others_resume(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", RecordingChat()
    service.hold()
    async with open_harness(service, db, [chat]) as h:
        good = await h.bot.imagine(invocation("a good fox", user="U1")) or ""
        bad = await h.bot.imagine(invocation("a broken fox", user="U2")) or ""
        good_job = await job_in_state(h.store, good, JobState.SUBMITTED)
        bad_job = await job_in_state(h.store, bad, JobState.SUBMITTED)
    conn = sqlite3.connect(db)
    conn.execute("UPDATE jobs SET results = 'garbage' WHERE id = ?", (bad,))
    conn.commit()
    conn.close()

    service.hold(False)
    for job in (good_job, bad_job):
        await service.complete(job)
    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
        await chat.wait_until(lambda: any(n.user_id == "U2" for n in chat.notes))
        done = await h2.store.get_job(good)

    assert done is not None and done.state is JobState.POSTED
    [note] = [n for n in chat.notes if n.user_id == "U2"]
    assert bad in note.text and "set it aside" in note.text


class BrokenThreads(RecordingChat):
    """A bug in the platform code: opening the first thread raises."""

    def __init__(self) -> None:
        super().__init__()
        self.broken = True

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        if self.broken:
            self.broken = False
            raise RuntimeError("bug")
        return await super().open_thread(invocation, status_text, actions)


async def test_an_unexpected_error_before_a_job_runs_gives_its_slot_back(
    service: Service, tmp_path: Path
) -> None:
    chat = BrokenThreads()
    config = fast_bot_config(max_jobs_per_user=1)
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        assert await h.bot.imagine(invocation("a fox that hits a bug")) is None
        [note] = chat.notes
        assert "went wrong on my side" in note.text

        second = await h.bot.imagine(invocation("a fox after the bug")) or ""
        job = await h.bot.wait_for(second)

    assert job is not None and job.state is JobState.POSTED
    assert "queued" not in chat.status[chat.threads[0].status_message_id][0]


async def test_a_batch_with_a_failed_image_posts_the_rest_and_says_which_failed(
    emulator: Emulator, tmp_path: Path
) -> None:
    """SuperDuper only: its images are files that fail one by one (a ComfyUI batch is one
    prompt, made or failed as a whole)."""
    chat = RecordingChat()
    emulator.config.manual_completion = True
    async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("four foxes --n 4 --seed 100")) or ""
        submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)
        files = file_ids(submitted)
        for index, file_id in enumerate(files):
            await emulator.finish(file_id, "CUDA out of memory" if index == 1 else None)
        job = await h.bot.wait_for(job_id)

    assert job is not None and job.state is JobState.POSTED and job.notified
    [grid] = chat.images  # one grid, with the three images that were made
    assert grid.dedupe_key == f"{job_id}:grid"
    # each tile's own seed, by its number
    assert "1: seed 100, 3: seed 102, 4: seed 103" in grid.caption
    assert [a.label for a in grid.actions] == [
        "U1", "U3", "U4", "V1", "V3", "V4", "Re-roll", "Delete"
    ]  # fmt: skip
    [notice] = [p for p in chat.posts if "could not be made" in p.text]
    assert notice.where.thread == job.thread
    assert "image 2: CUDA out of memory" in notice.text
    assert [a.kind for a in notice.actions] == [ActionKind.REROLL]


async def test_the_recording_fake_shows_a_repeated_post(tmp_path: Path) -> None:
    """The fake itself must not hide duplicates: the same dedupe key twice is two posts."""
    chat = RecordingChat()
    where = Conversation("test", "W1", "C1", "T1")
    upload = Upload(b"png", "a.png", "image/png")
    await chat.post_media(where, upload, "one", (), "job:0")
    await chat.post_media(where, upload, "one", (), "job:0")
    await until(lambda: len(chat.images) == 2)
