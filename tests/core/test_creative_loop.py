"""The creative loop through the real core, emulator and SQLite: grids with per-image
buttons, variations, upscales, remix, image prompts, cancel, history and show. Tests taking
``service`` run on SuperDuper and on ComfyUI; ``comfyui`` ones on ComfyUI only."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image, ImageChops, ImageStat

from bot.chat import ActionInvocation, ActionKind, Attachment, DialogSubmission, Requester
from bot.jobs import Job, JobState
from tests.core.test_exactly_once import crash_at
from tests.support.clock import ManualClock
from tests.support.drivers import ComfyUIDriver, Service
from tests.support.harness import AnyHarness, invocation, open_harness
from tests.support.recording_chat import PostedImage, RecordingChat
from tests.support.waiting import job_in_state, until

OTHER = Requester("U2", "user U2")


def picture(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB")


def difference(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0 = identical), ``b`` resized to ``a``."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b.resize(a.size))).mean) / 3


def press(
    image: PostedImage, kind: ActionKind, *, by: Requester = OTHER, index: int | None = None
) -> ActionInvocation:
    [action] = [a for a in image.actions if a.kind is kind and (index is None or a.index == index)]
    return ActionInvocation(image.where, by, kind, action.job_id, image.message_id, action.index)


async def grid_of_four(h: AnyHarness, chat: RecordingChat) -> tuple[Job, PostedImage]:
    job = await h.bot.wait_for(await h.bot.imagine(invocation("four foxes --n 4 --seed 10")) or "")
    assert job is not None and job.state is JobState.POSTED
    [grid] = chat.images
    return job, grid


async def originals(h: AnyHarness, job: Job) -> list[bytes]:
    return [await h.image_bytes(r.url or "") for r in job.results]


async def child_of(h: AnyHarness, parent: Job, chat: RecordingChat, count: int = 2) -> Job:
    await chat.wait_until(lambda: len(chat.images) >= count)
    await h.bot.drain()
    child_id = chat.images[count - 1].dedupe_key.split(":")[0]
    child = await h.store.get_job(child_id)
    assert child is not None and child.parent_job_id == parent.id
    return child


async def test_a_batch_is_one_numbered_grid_with_u_and_v_buttons(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job, grid = await grid_of_four(h, chat)
        images = [picture(data) for data in await originals(h, job)]

    assert [a.label for a in grid.actions] == [
        "U1", "U2", "U3", "U4", "V1", "V2", "V3", "V4", "Re-roll", "Delete"
    ]  # fmt: skip
    assert [a.row for a in grid.actions] == [0] * 4 + [1] * 4 + [2, 2]
    assert grid.where.thread == job.thread
    assert "1: seed 10, 2: seed 11, 3: seed 12, 4: seed 13" in grid.caption
    tiles = picture(grid.data)
    width, height = tiles.size
    quarters = [(0, 0), (width // 2, 0), (0, height // 2), (width // 2, height // 2)]
    for (x, y), original in zip(quarters, images, strict=True):
        tile = tiles.crop((x, y, x + width // 2 - 8, y + height // 2 - 8))
        # each numbered tile is its image (the number badge in a corner aside)
        others = [difference(tile, o) for o in images if o is not original]
        assert difference(tile, original) < min(others)


async def test_v2_makes_a_variation_of_image_2_in_the_same_thread(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        parent, grid = await grid_of_four(h, chat)
        second = (await originals(h, parent))[1]
        await h.bot.act(press(grid, ActionKind.VARY_STRONG, index=1))
        child = await child_of(h, parent, chat)

    assert child.requester_id == "U2"  # the presser's job, counted against them
    assert (child.action, child.parent_index, child.params.count) == (ActionKind.VARY_STRONG, 1, 1)
    reference, weight = service.reference_of(child)
    assert reference == second and weight == 0.35  # image 2 went to the service
    variation = chat.images[1]
    assert variation.where.thread == parent.thread
    assert f"strong variation of image 2 of `{parent.id}`" in variation.caption
    assert {a.kind for a in variation.actions} >= {ActionKind.VARY_SUBTLE, ActionKind.UPSCALE}


async def test_u1_gives_image_1_at_twice_the_size(service: Service, tmp_path: Path) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        parent, grid = await grid_of_four(h, chat)
        first = picture((await originals(h, parent))[0])
        await h.bot.act(press(grid, ActionKind.UPSCALE, index=0))
        child = await child_of(h, parent, chat)

    upscaled = picture(chat.images[1].data)
    assert upscaled.size == (first.width * 2, first.height * 2)
    assert difference(upscaled.resize(first.size), first) < 3  # the same picture
    assert child.params.seed == parent.results[0].seed
    assert f"upscale of image 1 of `{parent.id}`" in chat.images[1].caption


async def test_remix_opens_a_prefilled_dialog_and_its_text_starts_a_child_job(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        parent = await h.bot.wait_for(
            await h.bot.imagine(invocation("a red fox --ar 3:2 --style anime")) or ""
        )
        assert parent is not None
        await h.bot.act(press(chat.images[0], ActionKind.REMIX))
        [(pressed, dialog)] = chat.dialogs
        assert dialog.kind is ActionKind.REMIX and dialog.job_id == parent.id
        assert dialog.text == "a red fox --ar 3:2 --style anime"

        await h.bot.submit_dialog(
            DialogSubmission(
                pressed.conversation, OTHER, ActionKind.REMIX, parent.id, "a blue fox --ar 3:2"
            )
        )
        child = await child_of(h, parent, chat)
        bad = DialogSubmission(
            pressed.conversation, OTHER, ActionKind.REMIX, parent.id, "a fox --ar banana"
        )
        await h.bot.submit_dialog(bad)

    assert child.params.prompt == "a blue fox" and child.action is ActionKind.REMIX
    assert (child.params.width, child.params.height) == (parent.params.width, parent.params.height)
    assert f"remix of `{parent.id}`" in chat.images[1].caption
    assert "--ar" in chat.notes[-1].text  # the same friendly parser error as a command
    assert len(chat.images) == 2


async def test_an_attached_image_reaches_the_service_as_the_reference(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    source = io.BytesIO()
    Image.new("RGB", (320, 240), (200, 30, 30)).save(source, "PNG")
    chat.files["https://files.test/red.png"] = source.getvalue()
    attached = invocation("a fox in this light --iw 1.6")
    attached = type(attached)(
        attached.conversation,
        attached.requester,
        attached.text,
        attachments=(Attachment("https://files.test/red.png", "red.png", "image/png"),),
    )
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(attached) or "")

    assert job is not None and job.state is JobState.POSTED
    reference, weight = service.reference_of(job)
    assert reference == source.getvalue() and weight == 0.8  # --iw 1.6 of 2
    result = picture(chat.images[0].data)
    red = Image.new("RGB", result.size, (200, 30, 30))
    assert difference(result, red) < 60  # mostly the attached red


async def test_an_attachment_that_is_not_an_image_is_refused_and_starts_nothing(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    chat.files["https://files.test/notes.txt"] = b"just text"
    broken = invocation("a fox")
    broken = type(broken)(
        broken.conversation,
        broken.requester,
        broken.text,
        attachments=(Attachment("https://files.test/notes.txt", "notes.txt"),),
    )
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        assert await h.bot.imagine(broken) is None
        assert await h.store.unfinished_jobs() == []
    [note] = chat.notes
    assert "couldn't use the image you attached (notes.txt)" in note.text
    assert service.submissions() == 0


async def test_cancel_mid_run_stops_it_and_a_late_result_is_never_posted(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    service.hold()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox to cancel")) or ""
        submitted = await job_in_state(h.store, job_id, JobState.SUBMITTED)
        [handle] = chat.threads
        [cancel] = chat.status_actions[handle.status_message_id][0]
        assert cancel.kind is ActionKind.CANCEL
        others = ActionInvocation(
            handle.conversation, OTHER, ActionKind.CANCEL, job_id, handle.status_message_id
        )
        await h.bot.act(others)  # not theirs
        assert "Only <@U1>" in chat.notes[-1].text
        owner = Requester("U1", "user U1")
        await h.bot.act(
            ActionInvocation(
                handle.conversation, owner, ActionKind.CANCEL, job_id, handle.status_message_id
            )
        )
        await service.complete(submitted)  # the service finishes anyway (where it can)
        await h.bot.drain()
        cancelled = await h.store.get_job(job_id)

    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert cancelled.cancelled_by == "U1" and cancelled.notified
    assert chat.images == []
    assert "cancelled by <@U1>" in chat.status[handle.status_message_id][-1]
    assert chat.status_actions[handle.status_message_id][-1] == ()  # no Cancel any more
    assert any("was cancelled by <@U1>" in t for _, t in chat.texts)


async def test_cancel_on_comfyui_interrupts_the_running_prompt_and_deletes_a_queued_one(
    comfyui: ComfyUIDriver, tmp_path: Path
) -> None:
    chat = RecordingChat()
    comfyui.hold()
    emulator = comfyui.emulator
    async with open_harness(comfyui, tmp_path / "bot.db", [chat]) as h:
        running_id = await h.bot.imagine(invocation("a fox on the GPU")) or ""
        running = comfyui.prompt_id(await job_in_state(h.store, running_id, JobState.SUBMITTED))
        queued_id = await h.bot.imagine(invocation("a fox in the queue")) or ""
        queued = comfyui.prompt_id(await job_in_state(h.store, queued_id, JobState.SUBMITTED))
        assert (emulator.state_of(running), emulator.state_of(queued)) == ("running", "pending")
        running_thread, queued_thread = chat.threads
        for job_id, thread in ((queued_id, queued_thread), (running_id, running_thread)):
            owner = Requester("U1", "user U1")
            await h.bot.act(
                ActionInvocation(
                    thread.conversation, owner, ActionKind.CANCEL, job_id, thread.status_message_id
                )
            )
        await emulator.wait_done(running)
        await h.bot.drain()
        ended = [await h.store.get_job(job_id) for job_id in (running_id, queued_id)]
        stopped = await comfyui.history(running)

    assert all(j is not None and j.state is JobState.CANCELLED for j in ended)
    assert emulator.state_of(queued) is None  # deleted from the queue before it ran
    assert stopped is not None and stopped["status"]["status_str"] == "error"
    assert "execution_interrupted" in [kind for kind, _ in stopped["status"]["messages"]]
    assert emulator.counters.prompts_executed == 1  # the interrupted one only
    assert chat.images == []


async def test_a_crash_between_a_press_and_its_post_posts_once_after_restart(
    service: Service, tmp_path: Path
) -> None:
    db, chat = tmp_path / "bot.db", RecordingChat()
    async with open_harness(service, db, [chat]) as h:
        parent, grid = await grid_of_four(h, chat)
    made, wrap = crash_at(JobState.COMPLETED)
    async with open_harness(service, db, [chat], wrap_store=wrap) as h2:
        await h2.bot.act(press(grid, ActionKind.UPSCALE, index=2))
        await asyncio.wait_for(made[0].crashed.wait(), 10)
    async with open_harness(service, db, [chat]) as h3:
        await h3.bot.drain()
        [child] = [j for j in await h3.store.recent_jobs(parent.channel_key, "U2", 5)]

    assert child.state is JobState.POSTED and child.parent_index == 2
    assert [i.dedupe_key for i in chat.images] == [f"{parent.id}:grid", f"{child.id}:0"]


async def test_buttons_of_a_deleted_result_say_so(service: Service, tmp_path: Path) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox to delete")) or "")
        assert job is not None
        [image] = chat.images
        owner = Requester("U1", "user U1")
        await h.bot.act(press(image, ActionKind.DELETE, by=owner))
        await h.bot.act(press(image, ActionKind.VARY_SUBTLE))
        await h.bot.act(press(image, ActionKind.DELETE, by=owner))

    assert chat.deleted == [image.message_id]  # deleted once
    assert [n.text for n in chat.notes] == [
        f"The result of job `{job.id}` was deleted, so its buttons don't do anything any more."
    ] * 2
    assert len(chat.images) == 1


async def test_history_lists_the_requesters_last_jobs_with_links(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    clock = ManualClock(1_800_000_000.0)
    async with open_harness(service, tmp_path / "bot.db", [chat], clock=clock) as h:
        first = await h.bot.wait_for(await h.bot.imagine(invocation("an old fox")) or "")
        clock.advance(3 * 3600)
        second = await h.bot.wait_for(await h.bot.imagine(invocation("a new fox")) or "")
        await h.bot.wait_for(await h.bot.imagine(invocation("someone else's", user="U7")) or "")
        await h.bot.history(invocation(""))

    assert first is not None and second is not None
    [note] = [n for n in chat.notes if n.text.startswith("Your last jobs")]
    lines = note.text.splitlines()[1:]
    assert len(lines) == 2
    assert lines[0].startswith(f"• `{second.id}` “a new fox” · posted · just now")
    assert lines[1].startswith(f"• `{first.id}` “an old fox” · posted · 3 h ago")
    assert f"https://chat.test/C1/{first.thread}" in lines[1]


async def test_show_reposts_a_result_card_with_live_buttons_where_asked(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat]) as h:
        job, grid = await grid_of_four(h, chat)
        await h.bot.show(invocation(job.id, channel="C9"))
        await h.bot.show(invocation("nope99", channel="C9"))
        await until(lambda: len(chat.images) == 2)
        shown = chat.images[1]
        await h.bot.act(press(shown, ActionKind.UPSCALE, index=3))
        await chat.wait_until(lambda: len(chat.images) == 3)
        await h.bot.drain()

    assert (shown.where.channel, shown.where.thread) == ("C9", None)
    assert shown.data == grid.data and shown.actions == grid.actions
    assert "I don't know a job `nope99`" in chat.notes[-1].text
    upscale = chat.images[2]
    assert upscale.where.channel == "C9" and upscale.where.thread is not None  # its own thread


async def test_old_finished_jobs_are_pruned_after_the_retention(
    service: Service, tmp_path: Path
) -> None:
    clock = ManualClock(1_800_000_000.0)
    chat = RecordingChat()
    async with open_harness(service, tmp_path / "bot.db", [chat], clock=clock) as h:
        old = await h.bot.wait_for(await h.bot.imagine(invocation("an old fox")) or "")
        clock.advance(31 * 86400)
        new = await h.bot.wait_for(await h.bot.imagine(invocation("a new fox")) or "")
        assert old is not None and new is not None
        assert await h.bot.prune() == 1
        assert await h.store.get_job(old.id) is None
        assert await h.store.get_job(new.id) is not None
