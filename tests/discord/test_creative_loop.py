"""The creative loop on Discord, as a user sees it: a grid with U/V buttons, a variation and
an upscale of the pressed image in the same thread, Cancel on the status message, and a
restart between a press and its post."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.chat import ActionKind
from bot.jobs import Job, JobState
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.discord.fake import FakeChannel, FakeDiscord, FakeMessage, FakeUser
from tests.discord.support import (
    DiscordStack,
    decode,
    discord_stack,
    images_in,
    labelled,
    labels_by_row,
    new_thread,
)
from tests.support.faulty_store import FaultyStore
from tests.support.superduper import file_ids, result_url
from tests.support.waiting import job_in_state

DEFERRED_UPDATE_MESSAGE = 6


async def grid_of_four(stack: DiscordStack, user: FakeUser) -> tuple[FakeChannel, FakeMessage, Job]:
    fake = stack.fake
    await fake.slash_imagine(user, fake.general, {"prompt": "four foxes", "count": 4, "seed": 10})
    thread = await new_thread(fake)
    [grid] = await stack.results_in(thread)
    return thread, grid, await stack.job_of(grid)


async def test_a_batch_is_one_grid_with_u_and_v_buttons_in_three_rows(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        _, grid, job = await grid_of_four(stack, alice)

    assert labels_by_row(grid) == [
        ["U1", "U2", "U3", "U4"],
        ["V1", "V2", "V3", "V4"],
        ["Re-roll", "Delete"],
    ]
    assert labelled(grid, "V2") == f"imagine:vary_strong:{job.id}:1"
    [attachment] = grid.attachments
    assert len(job.results) == 4 and decode(attachment.data).width > 0
    assert "1: seed 10, 2: seed 11, 3: seed 12, 4: seed 13" in grid.content


async def test_v2_posts_a_variation_of_image_2_in_the_same_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        thread, grid, parent = await grid_of_four(stack, alice)
        second = await stack.harness.image_bytes(result_url(parent, 1))

        press = await fake.click(bob, grid, labelled(grid, "V2"))
        _, variation = await stack.results_in(thread, count=2)
        child = await stack.job_of(variation)
        child_image = await stack.harness.image_bytes(result_url(child, 0))

    assert press.callback_types == [DEFERRED_UPDATE_MESSAGE]
    assert (child.parent_job_id, child.parent_index) == (parent.id, 1)
    assert child.action is ActionKind.VARY_STRONG and child.requester_id == str(bob.id)
    reference, weight = emulator.reference_of(file_ids(child)[0])
    assert reference == second and weight == 0.35  # image 2 went to the service
    assert f"strong variation of image 2 of `{parent.id}`" in variation.content
    assert variation.attachments[0].data == child_image
    assert labels_by_row(variation) == [
        ["Vary (Subtle)", "Vary (Strong)", "Upscale 2×", "Animate"],
        ["Remix", "Re-roll", "Delete"],
    ]
    assert len(fake.threads_of(fake.general)) == 1


async def test_u1_posts_image_1_at_twice_its_size(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        thread, grid, parent = await grid_of_four(stack, alice)
        first = decode(await stack.harness.image_bytes(result_url(parent, 0)))

        await fake.click(alice, grid, labelled(grid, "U1"))
        _, upscaled = await stack.results_in(thread, count=2)
        child = await stack.job_of(upscaled)

    assert decode(upscaled.attachments[0].data).size == (first.width * 2, first.height * 2)
    assert (child.action, child.parent_index) == (ActionKind.UPSCALE, 0)
    assert f"upscale of image 1 of `{parent.id}`" in upscaled.content


async def test_cancel_on_the_status_message_stops_the_job_and_nothing_is_posted_later(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    emulator.config.manual_completion = True
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox to cancel"})
        thread = await new_thread(fake)
        status = fake.messages[thread.id]  # the status message heads the thread
        job_id = (await stack.job_of(status)).id
        submitted = await job_in_state(stack.harness.store, job_id, JobState.SUBMITTED)
        assert labels_by_row(status) == [["Cancel"]]

        refused = await fake.click(bob, status, labelled(status, "Cancel"))
        await fake.until(lambda: bool(refused.followups))
        cancel = await fake.click(alice, status, labelled(status, "Cancel"))
        await fake.until(lambda: f"cancelled by <@{alice.id}>" in status.content)
        await emulator.finish(file_ids(submitted)[0])  # the service finishes anyway
        await stack.bot.drain()
        cancelled = await stack.harness.store.get_job(job_id)

    [note] = refused.followups
    assert note["flags"] == 64 and f"Only <@{alice.id}>" in note["content"]
    assert cancel.callback_types == [DEFERRED_UPDATE_MESSAGE]
    assert status.custom_ids() == []  # no Cancel button any more
    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert images_in(fake, thread) == []
    assert any(f"was cancelled by <@{alice.id}>" in m.content for m in fake.messages_in(thread))


async def test_a_restart_between_a_press_and_recording_its_post_posts_it_once(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    """The upscale was posted, then the process died before recording the post: the next
    process posts again with the same nonce and Discord keeps the one message."""
    alice = fake.add_user("alice")
    db = tmp_path / "bot.db"
    async with discord_stack(emulator, fake, db) as stack:
        thread, grid, parent = await grid_of_four(stack, alice)
    made: list[FaultyStore] = []

    def crash_before_recording_the_child_post(inner: SqliteJobStore) -> FaultyStore:
        made.append(
            FaultyStore(
                inner, crash_before=lambda j: bool(j.parent_job_id and j.posted_message_ids)
            )
        )
        return made[-1]

    async with discord_stack(
        emulator, fake, db, wrap_store=crash_before_recording_the_child_post
    ) as stack:
        await fake.click(alice, grid, labelled(grid, "U3"))
        await asyncio.wait_for(made[0].crashed.wait(), 10)
        assert len(images_in(fake, thread)) == 2 and fake.deduplicated == []
    async with discord_stack(emulator, fake, db) as stack:
        await stack.bot.drain()
        [child] = await stack.harness.store.recent_jobs(parent.channel_key, str(alice.id), 1)

    first, upscale = images_in(fake, thread)
    assert first.id == grid.id and upscale.nonce is not None
    assert child.state is JobState.POSTED and child.parent_index == 2
    assert child.posted_message_ids == (str(upscale.id),)
    assert fake.deduplicated == [upscale.nonce]  # posted again after the restart, kept once
