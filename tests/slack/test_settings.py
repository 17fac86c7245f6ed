"""/imagine-settings: admins (IMAGINE_ADMIN_USERS) change a channel's defaults privately."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.access import AccessConfig
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import FakeSlack
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import Mode, SlackBot, slack_bot
from tests.support.harness import fast_bot_config

ADMIN = "UADMIN"
CONFIG = fast_bot_config(access=AccessConfig(admin_users=frozenset({ADMIN})))


async def _settings(run: SlackBot, text: str, *, user: str) -> str:
    """Run ``/imagine-settings text``; the private answer Slack shows the user."""
    return await run.ask(text, user=user, command="/imagine-settings")


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_an_admin_sets_the_size_and_the_next_image_has_it(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", mode=mode, config=CONFIG
    ) as run:
        answer = await _settings(run, "size=512x768 steps=12", user=ADMIN)
        assert answer.startswith("Saved.")
        assert "size 512×768, steps 12" in answer
        # The answer went to the command's response_url, ephemeral: nothing public.
        assert fake_slack.messages == [] and fake_slack.ephemerals == []

        ack = await run.side.slash(slash_payload(fake_slack, "a tall fox", user="U2"))
        assert ack.status == 200 and ack.text == ""
        status = await run.wait_status()
        [result] = await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()
        [image_message] = run.images("C1", status.ts)
        [file_id] = image_message.files
        data = fake_slack.files[file_id].data
        assert data is not None
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (512, 768)
        job = await run.harness.store.get_job(result.action_ids[0].split(":")[2])
        assert job is not None and job.params.steps == 12

        shown = await _settings(run, "", user=ADMIN)
        assert shown.startswith("Defaults in this channel: size 512×768, steps 12")
        assert "set here: size, steps" in shown


async def test_a_non_admin_is_refused_privately_and_nothing_changes(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=CONFIG) as run:
        refused = await _settings(run, "size=512x768 steps=12", user="U2")
        assert refused == "Only admins can see or change this channel's /imagine settings."
        assert await _settings(run, "", user="U2") == refused

        shown = await _settings(run, "", user=ADMIN)
        assert "size 1024×1024" in shown and "(all bot defaults)" in shown
        assert fake_slack.messages == [] and fake_slack.ephemerals == []


async def test_bad_settings_get_a_private_hint_and_change_nothing(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=CONFIG) as run:
        answer = await _settings(run, "size=huge", user=ADMIN)
        assert "size takes WxH" in answer
        assert "(all bot defaults)" in await _settings(run, "show", user=ADMIN)
