"""``imagine-bot run`` as deployed: a child process configured only by environment
variables, serving Slack in HTTP mode against the local fake Slack and the emulator."""

from __future__ import annotations

import io
import re
from pathlib import Path

import aiohttp
from PIL import Image

from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.slack.fakes.slack_side import SIGNING_SECRET, HttpSlackSide, slash_payload
from tests.support.child import Child
from tests.support.harness import TOKEN


def run_env(tmp_path: Path, emulator: Emulator, slack: FakeSlack, bot_token: str) -> dict[str, str]:
    return {
        "SUPERDUPER_URL": emulator.base_url,
        "SUPERDUPER_TOKEN": TOKEN,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_HTTP_PORT": "0",
        "SLACK_API_BASE": slack.api_base,
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_HEARTBEAT_PATH": str(tmp_path / "heartbeat"),
        "IMAGINE_LOG_LEVEL": "INFO",
    }


async def test_run_serves_slash_commands_until_sigterm(tmp_path: Path, emulator: Emulator) -> None:
    async with FakeSlack() as slack:
        child = await Child.start("run", env=run_env(tmp_path, emulator, slack, BOT_TOKEN))
        listening = await child.expect("listening for events on port")
        match = re.search(r"port (\d+)", listening)
        assert match is not None
        async with aiohttp.ClientSession() as session:
            ack = await HttpSlackSide(session, int(match.group(1))).slash(
                slash_payload(slack, "a lighthouse at dusk --ar 3:2")
            )
        assert ack.status == 200
        await slack.wait_for(lambda: bool(slack.live_files()), timeout=20)
        [upload] = slack.live_files()
        assert upload.data is not None
        with Image.open(io.BytesIO(upload.data)) as image:
            assert image.width > image.height  # 3:2, as asked
        assert (tmp_path / "heartbeat").exists()

        assert await child.terminate() == 0
        assert BOT_TOKEN not in child.output and TOKEN not in child.output


async def test_run_with_a_refused_slack_token_names_the_setting(
    tmp_path: Path, emulator: Emulator
) -> None:
    wrong = "xoxb-this-token-is-wrong-42"
    async with FakeSlack() as slack:
        child = await Child.start("run", env=run_env(tmp_path, emulator, slack, wrong))
        assert await child.finish() == 2
    assert "Slack refused SLACK_BOT_TOKEN" in child.output
    assert wrong not in child.output
    assert "Traceback" not in child.output
