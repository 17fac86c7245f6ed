"""Slack's limits and failures: 429 with Retry-After, refused uploads, duplicate posts."""

from __future__ import annotations

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
