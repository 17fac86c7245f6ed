"""``imagine-bot run`` as deployed: a child process configured only by environment
variables, serving Slack in HTTP mode against the local fake Slack and the emulator."""

from __future__ import annotations

import asyncio
import io
import re
from pathlib import Path
from typing import Any

import aiohttp
from PIL import Image

from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_TOKEN, FakeSlack
from tests.slack.fakes.slack_side import SIGNING_SECRET, HttpSlackSide, slash_payload
from tests.support.child import Child
from tests.support.harness import TOKEN, emulator_config


def run_env(tmp_path: Path, emulator: Emulator, slack: FakeSlack, bot_token: str) -> dict[str, str]:
    return {
        "SUPERDUPER_URL": emulator.base_url,
        "SUPERDUPER_TOKEN": TOKEN,
        "SLACK_BOT_TOKEN": bot_token,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_HTTP_PORT": "0",
        "SLACK_API_BASE": slack.api_base,
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_HEALTH_PORT": "0",
        "IMAGINE_LOG_LEVEL": "INFO",
    }


async def test_run_serves_slash_commands_until_sigterm(tmp_path: Path, emulator: Emulator) -> None:
    async with FakeSlack() as slack:
        child = await Child.start("run", env=run_env(tmp_path, emulator, slack, BOT_TOKEN))
        listening = await child.expect("listening for events on port")
        match = re.search(r"port (\d+)", listening)
        assert match is not None
        health_port = await port_of(child, "health checks on port")
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
        ready = await Child.start("health", env={"IMAGINE_HEALTH_PORT": str(health_port)})
        assert await ready.finish() == 0
        for line in ("ok  store: writable", "ok  slack: listening", "ok  backend:superduper"):
            assert line in ready.output
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"http://127.0.0.1:{health_port}/metrics") as page,
        ):
            metrics = await page.text()
        assert 'imagine_job_transitions_total{backend="superduper",state="posted"} 1.0' in metrics

        assert await child.terminate() == 0
        assert BOT_TOKEN not in child.output and TOKEN not in child.output


async def port_of(child: Child, needle: str) -> int:
    match = re.search(r"port (\d+)", await child.expect(needle))
    assert match is not None
    return int(match.group(1))


async def test_readiness_tells_the_truth_about_the_image_service(tmp_path: Path) -> None:
    """Ready while the service answers; not ready, naming where it tried, once it stops."""
    emulator = Emulator(emulator_config())
    await emulator.start()
    async with FakeSlack() as slack, aiohttp.ClientSession() as session:
        child = await Child.start("run", env=run_env(tmp_path, emulator, slack, BOT_TOKEN))
        url = f"http://127.0.0.1:{await port_of(child, 'health checks on port')}"
        async with session.get(f"{url}/readyz") as answer:
            assert answer.status == 200
        await emulator.stop()  # the image service goes away
        failing = await until_status(session, f"{url}/readyz", 503)
        [service] = [c for c in failing["checks"] if c["name"] == "backend:superduper"]
        assert not service["ok"]
        assert "127.0.0.1" in service["detail"] and "SUPERDUPER_URL" in service["detail"]
        async with session.get(f"{url}/healthz") as alive:
            assert alive.status == 200  # alive, just not ready
        assert await child.terminate() == 0
    assert TOKEN not in child.output


async def until_status(session: aiohttp.ClientSession, url: str, status: int) -> dict[str, Any]:
    """Ask until the endpoint answers ``status`` (the probe result is cached briefly)."""
    async with asyncio.timeout(30):
        while True:
            async with session.get(url) as answer:
                if answer.status == status:
                    body: dict[str, Any] = await answer.json()
                    return body
            await asyncio.sleep(0.2)


async def test_health_without_a_running_bot_is_unhealthy(tmp_path: Path) -> None:
    """No stale heartbeat file can make another bot's health pass: nothing listens here."""
    child = await Child.start("health", env={"IMAGINE_HEALTH_PORT": "9"})
    assert await child.finish() == 1
    assert "no imagine-bot answers on port 9 (IMAGINE_HEALTH_PORT)" in child.output


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
