"""/animate through the real core and emulator: a playable MP4 in the thread, from a
prompt or from an image result, fitted to the upload limit, posted once across a crash
(on SuperDuper and on ComfyUI)."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from bot.backend.types import Task
from bot.chat import ActionInvocation, ActionKind, Requester
from bot.jobs import JobState
from bot.media.video import first_frame, inspect_video
from tests.core.test_exactly_once import crash_at
from tests.support.drivers import Service
from tests.support.harness import invocation, open_harness
from tests.support.recording_chat import RecordingChat


async def test_animate_posts_a_playable_clip_in_the_thread(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(
            await h.bot.animate(invocation("a fox running --seconds 3")) or ""
        )

    assert job is not None and job.state is JobState.POSTED
    assert job.params.task is Task.VIDEO and job.params.seconds == 3.0
    assert service.submissions(video=True) == 1
    [clip] = chat.images
    assert clip.where.thread == job.thread
    assert clip.content_type == "video/mp4" and clip.filename.endswith(".mp4")
    media = await inspect_video(clip.data, declared_type="video/mp4", max_pixels=10**7)
    assert (media.width, media.height) == (512, 512) and media.duration == 3.0
    assert "3 s clip" in clip.caption
    assert [a.kind for a in clip.actions] == [ActionKind.REROLL, ActionKind.DELETE]


async def test_animate_refuses_flags_that_make_no_sense_for_a_clip(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        assert await h.bot.animate(invocation("a fox --n 4")) is None
        assert await h.bot.animate(invocation("a fox --seconds 30")) is None
        assert await h.bot.imagine(invocation("a fox --seconds 3")) is None
    assert "isn't available for /animate" in chat.notes[0].text
    assert "from 2 to 8" in chat.notes[1].text
    assert "is for /animate" in chat.notes[2].text
    assert service.submissions(video=True) == 0


async def test_the_animate_button_starts_a_clip_from_that_image(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        parent = await h.bot.wait_for(await h.bot.imagine(invocation("a still fox --ar 3:2")) or "")
        assert parent is not None
        [image] = chat.images
        [animate] = [a for a in image.actions if a.kind is ActionKind.ANIMATE]
        press = ActionInvocation(
            image.where, Requester("U2", "u2"), ActionKind.ANIMATE, parent.id, image.message_id, 0
        )
        await h.bot.act(press)
        await chat.wait_until(lambda: len(chat.images) == 2)
        await h.bot.drain()
        child = await h.store.get_job(chat.images[1].dedupe_key.split(":")[0])
        still = await h.image_bytes(parent.results[0].url or "")

    assert animate.label == "Animate"
    assert child is not None and child.action is ActionKind.ANIMATE
    reference, weight = service.reference_of(child)
    assert reference == still and weight == 1.0  # the image is the first frame
    clip = chat.images[1]
    assert clip.content_type == "video/mp4" and clip.where.thread == parent.thread
    assert child.params.width > child.params.height  # the image's 3:2 shape
    assert f"animation of image 1 of `{parent.id}`" in clip.caption


async def test_a_clip_over_the_upload_limit_is_reencoded_to_fit(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.animate(invocation("a big fox --seconds 8")) or "")
        assert job is not None
        original = await h.image_bytes(job.results[0].url or "")
        chat.limit = len(original) * 2 // 3
        await h.bot.show(invocation(job.id))
        await chat.wait_until(lambda: len(chat.images) == 2)

    smaller = chat.images[1]
    assert len(smaller.data) <= chat.limit < len(original)
    assert smaller.content_type == "video/mp4"
    assert (await inspect_video(smaller.data, declared_type="", max_pixels=10**7)).duration


async def test_a_clip_that_cannot_fit_is_replaced_by_its_poster_with_a_note(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat(limit=1_500)  # no clip gets this small; its first frame does
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.animate(invocation("a fox --ar 16:9")) or "")
        assert job is not None
        clip = await h.image_bytes(job.results[0].url or "")

    [poster] = chat.images
    assert poster.content_type.startswith("image/") and len(poster.data) <= 1_500 < len(clip)
    assert "here is its first frame" in poster.caption
    frame = await first_frame(clip)
    with Image.open(io.BytesIO(poster.data)) as shown:
        assert shown.width > shown.height and frame.width > frame.height  # 16:9


async def test_a_crash_mid_render_posts_the_clip_once_after_restart(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", RecordingChat()
    made, wrap = crash_at(JobState.COMPLETED)
    async with open_harness(service, db, [chat], wrap_store=wrap) as h:
        await h.bot.animate(invocation("a fox across a crash"))
        await asyncio.wait_for(made[0].crashed.wait(), 10)
    async with open_harness(service, db, [chat]) as h2:
        await h2.bot.drain()
    [clip] = chat.images
    assert clip.content_type == "video/mp4"
    assert service.generations("a fox across a crash") == 1
