"""The creative loop on Slack, through the real core, emulator and SQLite: a grid's U/V
buttons act on their own image, Cancel stops a job for good, and a restart between a
press and its post leaves one result."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

from PIL import Image

from bot.chat import ActionKind
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.core.test_exactly_once import crash_at
from tests.slack.fakes.slack_api import FakeSlack, Message
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import slack_bot
from tests.support.harness import emulator_config
from tests.support.superduper import file_ids, result_url
from tests.support.waiting import job_in_state


def picture(data: bytes | None) -> Image.Image:
    assert data is not None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.convert("RGB")


def labels(message: Message) -> list[list[str]]:
    """The message's buttons as Slack lays them out: one list per actions block."""
    return [
        [element["text"]["text"] for element in block["elements"]]
        for block in message.blocks or []
        if block["type"] == "actions"
    ]


GRID = "four foxes --n 4 --seed 10"


async def test_v2_on_a_grid_varies_image_2_in_the_same_thread(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        status, grid = await run.imagined(GRID)
        parent = await run.job_of(grid)
        assert labels(grid) == [
            ["U1", "U2", "U3", "U4"],
            ["V1", "V2", "V3", "V4"],
            ["Re-roll", "Delete"],
        ]

        await run.press(grid, label="V2", user="U2")
        variation = (await run.wait_results("C1", status.ts, 2))[1]
        await run.harness.bot.drain()
        child = await run.job_of(variation)
        second = await run.harness.image_bytes(result_url(parent, 1))

    assert (child.parent_job_id, child.parent_index) == (parent.id, 1)
    assert (child.action, child.requester_id) == (ActionKind.VARY_STRONG, "U2")
    reference, _ = emulator.reference_of(file_ids(child)[0])
    assert reference == second  # image 2 of the grid went to the service
    image = run.images("C1", status.ts)[1]
    assert image.thread_ts == status.ts and variation.thread_ts == status.ts
    assert f"strong variation of image 2 of `{parent.id}`" in image.text
    assert labels(variation) == [
        ["Vary (Subtle)", "Vary (Strong)", "Upscale 2×", "Animate"],
        ["Remix", "Re-roll", "Delete"],
    ]
    assert [m for m in fake_slack.messages if m.thread_ts is None] == [status]


async def test_u1_on_a_grid_posts_image_1_at_twice_the_size(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        status, grid = await run.imagined(GRID)
        parent = await run.job_of(grid)
        first = picture(await run.harness.image_bytes(result_url(parent, 0)))

        await run.press(grid, label="U1", user="U1")
        await run.wait_results("C1", status.ts, 2)
        await run.harness.bot.drain()

    upscaled = run.images("C1", status.ts)[1]
    assert picture(fake_slack.files[upscaled.files[0]].data).size == (
        first.width * 2,
        first.height * 2,
    )
    assert f"upscale of image 1 of `{parent.id}`" in upscaled.text


async def test_cancel_mid_run_stops_the_job_and_nothing_is_posted_later(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with (
        Emulator(emulator_config(manual_completion=True)) as emulator,
        slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run,
    ):
        await run.side.slash(slash_payload(fake_slack, "a fox to cancel"))
        status = await run.wait_status()
        assert labels(status) == [["Cancel"]]
        [job] = await run.harness.store.unfinished_jobs()
        submitted = await job_in_state(run.harness.store, job.id, JobState.SUBMITTED)

        await run.press(status, "cancel", user="U2")
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        assert "Only <@U1>" in fake_slack.ephemerals[0].text

        await run.press(status, "cancel", user="U1")
        await fake_slack.wait_for(lambda: "cancelled by <@U1>" in status.text)
        await emulator.finish(file_ids(submitted)[0])  # the service finishes anyway
        await run.harness.bot.drain()
        cancelled = await run.harness.store.get_job(job.id)

    assert cancelled is not None and cancelled.state is JobState.CANCELLED
    assert run.images("C1", status.ts) == [] and run.results("C1", status.ts) == []
    assert status.action_ids == []  # the Cancel button is gone
    notes = [m.text for m in fake_slack.thread("C1", status.ts) if m is not status]
    assert notes == [f"🚫 Job `{job.id}` was cancelled by <@U1>."]


async def test_a_restart_between_a_press_and_its_post_posts_it_once(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The upscale was posted to Slack, then the bot died before recording it: after the
    restart the job resumes, finds its result in the thread and does not post it again."""
    db = tmp_path / "bot.db"
    async with slack_bot(emulator, fake_slack, db) as run:
        status, grid = await run.imagined(GRID)
    made, wrap = crash_at(JobState.POSTED)
    async with slack_bot(emulator, fake_slack, db, wrap_store=wrap) as crashing:
        await crashing.press(grid, label="U3", user="U2")
        await asyncio.wait_for(made[0].crashed.wait(), 10)
        assert len(crashing.results("C1", status.ts)) == 2  # posted, not recorded
    async with slack_bot(emulator, fake_slack, db) as restarted:
        await restarted.harness.bot.drain()
        parent = await restarted.job_of(grid)
        [upscale] = await restarted.harness.store.recent_jobs(parent.channel_key, "U2", 5)

    assert upscale.state is JobState.POSTED and upscale.parent_index == 2
    assert len(restarted.results("C1", status.ts)) == 2
    assert len(restarted.images("C1", status.ts)) == 2
    assert len(fake_slack.live_files()) == 2
