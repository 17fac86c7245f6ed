"""The same flows over Socket Mode: envelopes in, acks (by envelope_id) out."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import APP_TOKEN, BOT_USER, FakeSlack
from tests.slack.fakes.slack_side import mention_event, slash_payload
from tests.slack.wiring import slack_bot
from tests.support.superduper import result_url


async def test_slash_command_and_buttons_over_socket_mode(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", mode="socket") as run:
        [opened] = fake_slack.calls_to("apps.connections.open")
        assert opened.token == APP_TOKEN

        assert "prompt" in (await run.ask("--seed 3")).lower()
        ack = await run.side.slash(slash_payload(fake_slack, "a socket fox"))
        assert ack.text == ""

        status = await run.wait_status()
        [result] = await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()
        [image] = run.images("C1", status.ts)
        job = await run.harness.store.get_job(result.action_ids[0].split(":")[2])
        assert job is not None and job.state is JobState.POSTED
        assert fake_slack.files[image.files[0]].data == await run.harness.image_bytes(
            result_url(job, 0)
        )

        await run.press(result, "delete", user="U2")
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        assert "Only <@U1>" in fake_slack.ephemerals[0].text
        await run.press(result, "reroll", user="U1")
        await run.wait_results("C1", status.ts, 2)
        await run.harness.bot.drain()
        # every envelope was acknowledged by its id
        assert len(fake_slack.acks) == 4
        assert len({a["envelope_id"] for a in fake_slack.acks}) == 4


async def test_mentions_and_a_retried_event_over_socket_mode(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", mode="socket") as run:
        said = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> a fox in a channel")
        event = mention_event(said.text, ts=said.ts, user="U2")
        await run.side.event(event)
        await run.side.event(event, retry_num=1)
        parent = fake_slack.post_user_message("C1", "U3", "a thread")
        inner = fake_slack.post_user_message(
            "C1", "U3", f"<@{BOT_USER}> a fox in a thread", thread_ts=parent.ts
        )
        await run.side.event(mention_event(inner.text, ts=inner.ts, user="U3", thread_ts=parent.ts))

        await run.wait_results("C1", said.ts, 1)
        await run.wait_results("C1", parent.ts, 1)
        await run.harness.bot.drain()
        assert len(run.images("C1", said.ts)) == 1  # the retry did not start a second job
        assert len(run.images("C1", parent.ts)) == 1
        statuses = [m for m in fake_slack.messages if "is imagining" in m.text]
        assert sorted(m.thread_ts or "" for m in statuses) == sorted([said.ts, parent.ts])
