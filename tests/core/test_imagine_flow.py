"""/imagine end to end through the real core, emulator, client, watcher and SQLite.

Tests taking ``service`` run on SuperDuper and on ComfyUI; ``emulator`` ones are about
SuperDuper's projects, ``comfyui`` ones about what only ComfyUI does."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from bot.chat import ActionInvocation, ActionKind, Conversation, DeliveryError, Requester
from bot.jobs import ChannelKey, ChannelSettings, JobState
from emulator.superduper import Emulator
from tests.support.drivers import ComfyUIDriver, Service
from tests.support.harness import fast_bot_config, invocation, open_harness
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import project_of, result_url
from tests.support.waiting import job_in_state


async def test_imagine_posts_the_service_image_in_the_job_thread(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("a watercolor fox --ar 3:2 --seed 42"))
        assert job_id is not None
        assert len(chat.acknowledged) == 1
        job = await h.bot.wait_for(job_id)

        assert job is not None and job.state is JobState.POSTED
        [thread] = chat.threads
        [image] = chat.images
        assert image.where == thread.conversation  # in the job's thread, not the channel
        assert image.data == await h.image_bytes(result_url(job, 0))
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.size == (job.params.width, job.params.height)
            assert decoded.width > decoded.height  # 3:2
        for expected in ("a watercolor fox", "seed 42", job_id, f"{job.params.width}×"):
            assert expected in image.caption
        assert [a.kind for a in image.actions] == [
            ActionKind.VARY_SUBTLE,
            ActionKind.VARY_STRONG,
            ActionKind.UPSCALE,
            ActionKind.ANIMATE,
            ActionKind.REMIX,
            ActionKind.REROLL,
            ActionKind.DELETE,
        ]
        assert image.dedupe_key == f"{job_id}:0"
        status = chat.status[thread.status_message_id]
        assert "<@U1> is imagining “a watercolor fox”" in status[0]
        assert "done in" in status[-1]


async def test_bad_input_gets_a_friendly_private_error_and_nothing_starts(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        assert await h.bot.imagine(invocation("a fox --sead 3")) is None
        [note] = chat.notes
        assert note.user_id == "U1" and "--seed" in note.text
        assert chat.acknowledged == [] and chat.threads == []
        assert await h.store.unfinished_jobs() == []
        assert service.requests() == 0


async def test_twenty_concurrent_commands_in_a_new_channel_share_one_project(
    emulator: Emulator, tmp_path: Path
) -> None:
    chat = RecordingChat()
    config = fast_bot_config(max_jobs_per_user=20, max_running_jobs=20)
    async with open_harness(emulator, tmp_path / "bot.db", [chat], config=config) as h:
        ids = await asyncio.gather(
            *(h.bot.imagine(invocation(f"fox number {i}")) for i in range(20))
        )
        jobs = [await h.bot.wait_for(i) for i in ids if i is not None]
        assert len(jobs) == 20
        assert all(j is not None and j.state is JobState.POSTED for j in jobs)
        assert emulator.counters.requests["POST /api/projects"] == 1
        assert len({project_of(j) for j in jobs if j is not None}) == 1
        assert len(chat.images) == 20


async def test_a_project_the_service_forgot_is_recreated_and_the_job_succeeds(
    emulator: Emulator, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
        first = await h.bot.wait_for(await h.bot.imagine(invocation("first fox")) or "")
        assert first is not None
        project = project_of(first)
        assert project is not None
        emulator.delete_project(project)

        second = await h.bot.wait_for(await h.bot.imagine(invocation("second fox")) or "")
        assert second is not None and second.state is JobState.POSTED
        assert project_of(second) != project_of(first)
        assert await h.store.get_scope("superduper", ChannelKey("test", "W1", "C1")) == project_of(
            second
        )
        assert len(chat.images) == 2


async def test_a_failed_generation_is_explained_in_the_thread(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    service.hold()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("doomed fox")) or ""
        await service.fail(await job_in_state(h.store, job_id, JobState.SUBMITTED), "GPU on fire")
        job = await h.bot.wait_for(job_id)
        assert job is not None and job.state is JobState.FAILED
        [(where, text)] = chat.texts
        assert where == chat.threads[0].conversation
        assert job.id in text and "failed" in text and "GPU on fire" in text
        assert chat.images == []


async def test_a_job_that_never_finishes_times_out_with_a_message(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    service.hold()
    config = fast_bot_config(job_timeout=0.5)
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("slow fox")) or "")
        assert job is not None and job.state is JobState.TIMED_OUT
        [(_, text)] = chat.texts
        assert job.id in text and "try /imagine again" in text


async def test_jobs_over_the_per_user_limit_are_queued_with_their_position(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    service.hold()
    config = fast_bot_config(max_jobs_per_user=3, max_running_jobs=10)
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        ids = [await h.bot.imagine(invocation("fox 0")) or ""]
        # at the service first (ComfyUI runs one prompt at a time, in order)
        running = await job_in_state(h.store, ids[0], JobState.SUBMITTED)
        ids += [await h.bot.imagine(invocation(f"fox {i}")) or "" for i in range(1, 5)]
        other = await h.bot.imagine(invocation("someone else's fox", user="U2")) or ""
        for job_id in (*ids[1:3], other):
            await job_in_state(h.store, job_id, JobState.SUBMITTED)

        first_status = [chat.status[t.status_message_id][0] for t in chat.threads]
        assert "queued, position 1" in first_status[3]
        assert "queued, position 2" in first_status[4]
        assert "queued" not in first_status[5]  # U2 is not held up behind U1's queue
        assert service.submissions() == 4

        await service.complete(running)  # one of U1's jobs ends…
        await job_in_state(h.store, ids[3], JobState.SUBMITTED)  # …so the first queued starts
        last = await h.store.get_job(ids[4])
        assert last is not None and last.state is JobState.ACCEPTED


async def test_channel_settings_change_the_defaults(service: Service, tmp_path: Path) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        key = ChannelKey("test", "W1", "C1")
        await h.store.set_channel_settings(key, ChannelSettings(width=512, height=768, steps=7))
        job = await h.bot.wait_for(await h.bot.imagine(invocation("tall fox")) or "")
        assert job is not None
        assert (job.params.width, job.params.height, job.params.steps) == (512, 768, 7)
        [image] = chat.images
        with Image.open(io.BytesIO(image.data)) as decoded:
            assert decoded.size == (512, 768)


async def test_a_channel_the_bot_cannot_post_in_is_reported_privately(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat(fail_open_thread=DeliveryError("Invite me first", permanent=True))
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        assert await h.bot.imagine(invocation("hidden fox")) is None
        [note] = chat.notes
        assert note.text == "Invite me first"
        assert await h.store.unfinished_jobs() == []
        assert service.submissions() == 0


async def test_an_undeliverable_result_tells_the_requester_privately(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat(fail_post_image=[DeliveryError("the thread was deleted", permanent=True)])
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("lost fox")) or "")
        assert job is not None and job.state is JobState.UNDELIVERABLE
        [note] = chat.notes
        assert note.user_id == "U1" and job.id in note.text and "thread was deleted" in note.text


async def test_a_transient_posting_failure_is_retried(service: Service, tmp_path: Path) -> None:
    chat = RecordingChat(fail_post_image=[DeliveryError("502 from the platform", permanent=False)])
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("patient fox")) or "")
        assert job is not None and job.state is JobState.POSTED
        assert len(chat.images) == 1


async def test_reroll_posts_a_new_image_in_the_same_thread_with_a_new_seed(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        first = await h.bot.wait_for(await h.bot.imagine(invocation("fox --seed 7")) or "")
        assert first is not None
        where = chat.images[0].where
        await h.bot.act(
            ActionInvocation(where, Requester("U2", "other"), ActionKind.REROLL, first.id, "img-x")
        )
        await h.bot.drain()
        assert len(chat.images) == 2
        second = chat.images[1]
        assert second.where == where
        assert second.data != chat.images[0].data
        assert "seed 7 " not in second.caption and "fox" in second.caption


async def test_only_the_requester_or_a_moderator_can_delete(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("private fox")) or "")
        assert job is not None
        image = chat.images[0]
        press = ActionInvocation(
            image.where, Requester("U9", "nosy"), ActionKind.DELETE, job.id, image.message_id
        )
        await h.bot.act(press)
        assert chat.deleted == []
        assert chat.notes[-1].user_id == "U9" and "<@U1>" in chat.notes[-1].text

        moderator = Requester("U8", "mod", is_admin=True)
        await h.bot.act(
            ActionInvocation(image.where, moderator, ActionKind.DELETE, job.id, image.message_id)
        )
        assert chat.deleted == [image.message_id]


async def test_unfinished_jobs_resume_after_a_restart_and_post_once(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    db = tmp_path / "bot.db"
    service.hold()
    async with open_harness(service, db, [chat]) as h:
        job_id = await h.bot.imagine(invocation("resumable fox"))
        assert job_id is not None
        submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)
    # the bot is gone; the work finishes while nobody is watching
    await service.complete(submitted)
    async with open_harness(service, db, [chat]) as h:
        job = await h.bot.wait_for(job_id)
        assert job is not None and job.state is JobState.POSTED
    assert len(chat.images) == 1
    assert chat.images[0].where == Conversation(
        "test", "W1", "C1", chat.threads[0].conversation.thread
    )


async def test_a_comfyui_host_restart_mid_job_fails_it_with_a_reason_and_a_reroll(
    comfyui: ComfyUIDriver, tmp_path: Path
) -> None:
    chat = RecordingChat()
    comfyui.hold()
    async with open_harness(comfyui, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox the GPU forgets")) or ""
        submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)
        assert comfyui.working_on(submitted)
        await comfyui.emulator.restart()  # its queue and history are gone
        job = await h.bot.wait_for(job_id)

    assert job is not None and job.state is JobState.FAILED
    [notice] = chat.posts
    assert notice.where.thread == job.thread and job_id in notice.text
    assert "restarted and lost this job" in notice.text
    assert [a.kind for a in notice.actions] == [ActionKind.REROLL]
    assert chat.images == []


async def test_a_workflow_comfyui_refuses_with_node_errors_is_explained(
    comfyui: ComfyUIDriver, tmp_path: Path
) -> None:
    chat = RecordingChat()
    comfyui.emulator.config.checkpoints = ("someone-elses.safetensors",)
    async with open_harness(comfyui, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox")) or "")

    assert job is not None and job.state is JobState.FAILED
    [notice] = chat.posts
    assert notice.where.thread == job.thread
    assert "rejected the request: the checkpoint 'emulator-sd15.safetensors' is not " in notice.text
    assert "check COMFYUI_CHECKPOINT" in notice.text
    assert comfyui.emulator.counters.requests["POST /prompt"] == 1  # refused, not retried
