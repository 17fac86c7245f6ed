"""``@imagine …`` mentions: the thread is the mention's own, or the thread it was written in."""

from __future__ import annotations

from pathlib import Path

from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_USER, FakeSlack
from tests.slack.fakes.slack_side import mention_event
from tests.slack.wiring import slack_bot


async def test_mention_in_a_channel_answers_in_a_thread_under_the_mention(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> a watercolor fox")
        ack = await run.side.event(mention_event(said.text, ts=said.ts, user="U2"))
        assert ack.status == 200

        [result] = await run.wait_results("C1", said.ts, 1)
        status, image = [m for m in fake_slack.thread("C1", said.ts) if m.user == BOT_USER][:2]
        assert status.thread_ts == said.ts
        assert "<@U2> is imagining “a watercolor fox”" in status.text  # mention stripped
        assert image.files and image.thread_ts == said.ts
        assert result.thread_ts == said.ts
        assert [m for m in fake_slack.messages if m.thread_ts is None] == [said]


async def test_mention_inside_a_thread_answers_in_that_thread(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        parent = fake_slack.post_user_message("C1", "U3", "ideas for the poster?")
        said = fake_slack.post_user_message(
            "C1", "U2", f"<@{BOT_USER}|imagine> a red kite", thread_ts=parent.ts
        )
        await run.side.event(mention_event(said.text, ts=said.ts, user="U2", thread_ts=parent.ts))

        [result] = await run.wait_results("C1", parent.ts, 1)
        assert result.thread_ts == parent.ts
        status = next(m for m in fake_slack.thread("C1", parent.ts) if "is imagining" in m.text)
        assert "“a red kite”" in status.text and status.thread_ts == parent.ts
        assert all(m.thread_ts == parent.ts for m in fake_slack.messages if m is not parent)


async def test_a_retried_event_is_processed_once(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> one fox only")
        event = mention_event(said.text, ts=said.ts, user="U2")
        first = await run.side.event(event)
        again = await run.side.event(event, retry_num=1)
        assert (first.status, again.status) == (200, 200)

        await run.wait_results("C1", said.ts, 1)
        await run.harness.bot.drain()
        statuses = [m for m in fake_slack.messages if "is imagining" in m.text]
        assert len(statuses) == 1
        assert len(run.images("C1", said.ts)) == 1


async def test_a_mention_with_bad_input_gets_a_private_error_in_the_channel(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> a fox --steps 9999")
        await run.side.event(mention_event(said.text, ts=said.ts, user="U2"))
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert (note.channel, note.user, note.thread_ts) == ("C1", "U2", None)
        assert "steps" in note.text
        assert [m.user for m in fake_slack.messages] == ["U2"]
        assert await run.harness.store.unfinished_jobs() == []
