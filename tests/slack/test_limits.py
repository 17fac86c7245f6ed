"""Slack's limits and failures: 429 with Retry-After, refused uploads, duplicate posts."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path

from bot.chat import Action, ActionKind, Conversation, Upload
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import TEAM, FakeSlack
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import slack_bot
from tests.support.harness import fast_bot_config


async def test_a_429_is_retried_after_retry_after(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.rate_limit_once["chat.postMessage"] = 1
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        await run.side.slash(slash_payload(fake_slack, "a patient fox"))
        await fake_slack.wait_for(lambda: len(fake_slack.messages) >= 1)

        limited, accepted = fake_slack.calls_to("chat.postMessage")[:2]
        assert (limited.status, accepted.status) == (429, 200)
        assert accepted.at - limited.at >= 1.0
        assert "is imagining “a patient fox”" in fake_slack.messages[0].text


async def test_a_refused_upload_is_reported_to_the_requester(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.upload_status = 500
    config = fast_bot_config(delivery_attempts=2)
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=config) as run:
        await run.side.slash(slash_payload(fake_slack, "a fox"))
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        await run.harness.bot.drain()

        status = await run.wait_status()
        [note] = fake_slack.ephemerals
        assert note.user == "U1" and note.thread_ts == status.ts
        assert "Uploading the image to Slack failed" in note.text
        assert len(fake_slack.calls_to("upload")) == 2  # the core's two attempts
        assert run.images("C1", status.ts) == [] and run.results("C1", status.ts) == []


async def test_posting_the_same_result_twice_leaves_one(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.replies_page_size = 2  # the lookup must follow the cursor
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        port = run.adapter.port
        status = fake_slack.post_user_message("C1", "U1", "thread parent")
        for i in range(3):
            fake_slack.post_user_message("C1", "U1", f"chatter {i}", thread_ts=status.ts)
        where = Conversation("slack", TEAM, "C1", status.ts)
        actions = [
            Action(ActionKind.REROLL, "job1", "Re-roll"),
            Action(ActionKind.DELETE, "job1", "Delete"),
        ]

        one = Upload(b"png-1", "a.png", "image/png")
        two = Upload(b"png-2", "b.png", "image/png")
        first = await port.post_media(where, one, "caption", actions, "job1:0")
        again = await port.post_media(where, one, "caption", actions, "job1:0")
        other = await port.post_media(where, two, "caption 2", actions, "job1:1")

        assert again == first and other != first
        assert [f.data for f in fake_slack.live_files()] == [b"png-1", b"png-2"]
        assert len(run.results("C1", status.ts)) == 2
        assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 2


IMAGE = Upload(b"png-1", "imagine-job1-1.png", "image/png")
REROLL = [Action(ActionKind.REROLL, "job1", "Re-roll")]


def a_thread(fake: FakeSlack) -> tuple[Conversation, str]:
    status = fake.post_user_message("C1", "U1", "thread parent")
    return Conversation("slack", TEAM, "C1", status.ts), status.ts


async def test_a_post_cut_off_between_the_image_and_its_buttons_is_completed_not_repeated(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """The process dies (kill -9) after Slack shared the image and before the button
    message went out, so the button message the dedupe lookup reads is missing. The next
    holder of the job (the restart, or the replica that takes it over) posts the result
    again: it adds the buttons to the image already there instead of a second image."""
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        port = run.adapter.port
        where, thread = a_thread(fake_slack)
        buttons_sent = fake_slack.hold("chat.postMessage")
        dying = asyncio.create_task(port.post_media(where, IMAGE, "caption", REROLL, "job1:0"))
        await fake_slack.wait_for(lambda: "chat.postMessage" in fake_slack.arrivals)
        dying.cancel()  # the process is gone the moment its button message left it
        with contextlib.suppress(asyncio.CancelledError):
            await dying
        # ...and that last request never takes effect at Slack.
        fake_slack.failing["chat.postMessage"] = "request_timeout"
        del fake_slack.held["chat.postMessage"]
        buttons_sent.set()
        await fake_slack.wait_for(lambda: bool(fake_slack.calls_to("chat.postMessage")))
        del fake_slack.failing["chat.postMessage"]
        assert len(run.images("C1", thread)) == 1 and run.results("C1", thread) == []

        posted = await port.post_media(where, IMAGE, "caption", REROLL, "job1:0")

        [shown] = run.images("C1", thread)
        [result] = run.results("C1", thread)
        assert posted == f"{result.ts}/{shown.files[0]}"
        assert result.action_ids
        assert (result.metadata or {})["event_payload"]["file_id"] == shown.files[0]
        assert len(fake_slack.calls_to("files.getUploadURLExternal")) == 1


async def test_a_result_posted_again_in_its_own_thread_is_a_second_image(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """/imagine-show in the job's own thread posts the same file name under another key:
    a complete earlier post (image and buttons) is not mistaken for a cut-off one."""
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        where, thread = a_thread(fake_slack)

        await run.adapter.port.post_media(where, IMAGE, "caption", REROLL, "job1:0")
        await run.adapter.port.post_media(where, IMAGE, "caption", REROLL, "show:1")

        assert len(run.images("C1", thread)) == 2
        assert len(run.results("C1", thread)) == 2
