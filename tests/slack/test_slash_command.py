"""/imagine over HTTP mode: signed requests, the real core, emulator and SQLite."""

from __future__ import annotations

import json
from pathlib import Path

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.slack.fakes.slack_side import HttpSlackSide, sign, slash_payload
from tests.slack.wiring import slack_bot
from tests.support.superduper import result_url


async def test_slash_command_posts_the_service_image_in_the_status_thread(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        ack = await run.side.slash(slash_payload(fake_slack, "a watercolor fox --seed 7"))
        assert ack.status == 200 and ack.text == ""  # plain ack, nothing ephemeral

        status = await run.wait_status()
        assert status.channel == "C1"
        assert "<@U1> is imagining “a watercolor fox”" in status.text
        [result] = await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()

        [job] = [await run.harness.store.get_job(j) for j in _job_ids(result.action_ids)]
        assert job is not None and job.state is JobState.POSTED
        assert job.thread == status.ts
        [image_message] = run.images("C1", status.ts)
        assert image_message.thread_ts == status.ts
        [file_id] = image_message.files
        uploaded = fake_slack.files[file_id]
        assert uploaded.data == await run.harness.image_bytes(result_url(job, 0))
        for expected in ("a watercolor fox", "seed 7", job.id):
            assert expected in image_message.text  # the caption is the upload's comment
        assert result.thread_ts == status.ts
        assert result.action_ids == [
            f"imagine:vary_subtle:{job.id}:0",
            f"imagine:vary_strong:{job.id}:0",
            f"imagine:upscale:{job.id}:0",
            f"imagine:animate:{job.id}:0",
            f"imagine:remix:{job.id}:0",
            f"imagine:reroll:{job.id}",
            f"imagine:delete:{job.id}",
        ]
        assert "done in" in fake_slack.message(status.ts).text  # type: ignore[union-attr]
        # the upload went through the v2 flow with the bot token
        assert [c.method for c in fake_slack.calls if "upload" in c.method.lower()] == [
            "files.getUploadURLExternal",
            "upload",
            "files.completeUploadExternal",
        ]
        assert all(c.token in (BOT_TOKEN, None) for c in fake_slack.calls)


async def test_bad_input_gets_a_private_answer_and_no_job(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        assert "--seed" in await run.ask("a fox --sead 3")
        assert await run.harness.store.unfinished_jobs() == []
        assert fake_slack.messages == [] and fake_slack.ephemerals == []
        assert sum(emulator.counters.requests.values()) == 0


async def test_forged_or_stale_requests_are_refused_and_start_nothing(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        assert isinstance(run.side, HttpSlackSide)
        body = "&".join(f"{k}={v}" for k, v in slash_payload(fake_slack, "a fox").items())
        form = "application/x-www-form-urlencoded"
        forged = await run.side.post(body, form, headers=sign(body, secret="wrong-secret"))
        stale = await run.side.post(body, form, headers=sign(body, timestamp=1_600_000_000))
        unsigned = await run.side.post(body, form, headers={})
        assert [forged.status, stale.status, unsigned.status] == [401, 401, 401]
        assert await run.harness.store.unfinished_jobs() == []
        assert fake_slack.messages == []


async def test_slacks_url_verification_is_answered(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Slack checks an HTTP-mode app's event URL with a signed challenge when it is set."""
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        assert isinstance(run.side, HttpSlackSide)
        body = json.dumps({"token": "legacy", "challenge": "c-42", "type": "url_verification"})
        answer = await run.side.post(body, "application/json")
        assert answer.status == 200 and json.loads(answer.raw) == {"challenge": "c-42"}


async def test_channel_without_the_bot_gets_a_private_invite_hint(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.not_in_channel.add("C9")
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        ack = await run.side.slash(slash_payload(fake_slack, "a fox", channel="C9", name="c9"))
        assert ack.status == 200
        await fake_slack.wait_for(lambda: bool(fake_slack.responses))
        [(name, body)] = fake_slack.responses
        assert name == "c9" and body["response_type"] == "ephemeral"
        assert "/invite @imagine" in body["text"]
        assert fake_slack.messages == []
        assert await run.harness.store.unfinished_jobs() == []
        assert emulator.counters.requests["POST /api/generation/image"] == 0


def _job_ids(action_ids: list[str]) -> list[str]:
    return sorted({a.split(":")[2] for a in action_ids})
