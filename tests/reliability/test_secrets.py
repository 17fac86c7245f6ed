"""No bot token, app token, signing secret, service token or ``Authorization`` value ever
reaches a log line, at DEBUG, through the main flows and their failure paths.

In-process flows are captured raw (``caplog`` on the root logger at DEBUG, every library
logger left at DEBUG, no redacting filter): this proves the code does not log secrets.
The child-process checks run the shipped CLI with ``IMAGINE_LOG_LEVEL=DEBUG``."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from pathlib import Path

import pytest

from app.config import ConfigError, load_settings
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.support.child import Child
from tests.support.harness import TOKEN, emulator_config, invocation, open_harness
from tests.support.recording_chat import RecordingChat

DISCORD_TOKEN = "discord-bot-token-SECRET-0123456789"
# An Authorization header whose value is shown (anything but a redaction marker).
SHOWN_AUTHORIZATION = re.compile(
    r"authorization['\"]?\s*[:=,]\s*['\"]?(?:bearer|bot)\s+(?![\[(<]?redacted)", re.IGNORECASE
)


def leaks(text: str, secrets: Iterable[str]) -> list[str]:
    found = [f"secret {s[:6]}…" for s in secrets if s in text]
    found += [m.group(0) for m in SHOWN_AUTHORIZATION.finditer(text)]
    return found


def everything_logged(caplog: pytest.LogCaptureFixture) -> str:
    """Each record's message, raw arguments and formatted traceback."""
    parts = [caplog.text]
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(record.args))
        if record.exc_info and record.exc_info[1] is not None:
            parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


async def test_core_and_service_flows_at_debug_log_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    chat = RecordingChat()
    async with Emulator(emulator_config(ws_reject_401=True)) as emulator:
        async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
            # the happy path (the WebSocket handshake refused with 401 on the way)
            job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox")) or "")
            assert job is not None and job.state is JobState.POSTED
            # the service refusing the token on HTTP
            emulator.config.token = "rotated-token-0123456789"
            refused = await h.bot.wait_for(await h.bot.imagine(invocation("a fox")) or "")
            assert refused is not None and refused.state is JobState.FAILED
            assert "SUPERDUPER_TOKEN" in (refused.error or "")

    logged = everything_logged(caplog)
    assert "websockets" in logged  # the chatty logger spoke (httpx's request line is skipped:
    assert "HTTP Request" not in logged  # the shared client sends without it, full URLs)
    assert leaks(logged, [TOKEN, "rotated-token-0123456789"]) == []
    shown = [text for _, text in chat.texts] + [n.text for n in chat.notes]
    assert leaks("\n".join(shown), [TOKEN]) == []


async def test_slack_flows_at_debug_log_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.slack.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
    from tests.slack.fakes.slack_side import SIGNING_SECRET, slash_payload
    from tests.slack.wiring import slack_bot

    caplog.set_level(logging.DEBUG)
    async with Emulator(emulator_config()) as emulator, FakeSlack() as fake:
        for mode in ("http", "socket"):
            async with slack_bot(emulator, fake, tmp_path / f"{mode}.db", mode=mode) as run:
                ack = await run.side.slash(slash_payload(fake, f"a {mode} fox"))
                assert ack.status == 200
                status = await run.wait_status()
                await run.wait_results("C1", status.ts, 1)
                await run.harness.bot.drain()
            fake.messages.clear()

    logged = everything_logged(caplog)
    assert "slack" in logged
    assert leaks(logged, [BOT_TOKEN, APP_TOKEN, SIGNING_SECRET, TOKEN]) == []


async def test_discord_flow_at_debug_logs_no_secret(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from tests.discord.fake import FakeDiscord
    from tests.discord.support import discord_stack

    caplog.set_level(logging.DEBUG)
    async with Emulator(emulator_config()) as emulator, FakeDiscord(token=DISCORD_TOKEN) as fake:
        alice = fake.add_user("alice")
        async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
            await fake.slash_imagine(alice, fake.general, {"prompt": "a discord fox"})
            await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
            [thread] = fake.threads_of(fake.general)
            await stack.results_in(thread)

    logged = everything_logged(caplog)
    assert "discord" in logged
    assert leaks(logged, [DISCORD_TOKEN, TOKEN]) == []


def test_configuration_errors_name_variables_not_values() -> None:
    secrets = {
        "SUPERDUPER_TOKEN": "service-token-SECRET-0123",
        "SUPERDUPER_URL": "not a url",
        "SLACK_BOT_TOKEN": "xoxb-SECRET-0123456789",
        "DISCORD_TOKEN": DISCORD_TOKEN,
        "DISCORD_GUILD_ID": "my server",
        "IMAGINE_LOG_LEVEL": "LOUD",
    }
    with pytest.raises(ConfigError) as caught:
        load_settings(secrets, dotenv_path=None)

    message = str(caught.value)
    assert "SUPERDUPER_URL" in message and "SLACK_BOT_TOKEN" in message
    assert leaks(message, [v for k, v in secrets.items() if "TOKEN" in k]) == []
    settings = load_settings(
        {"SLACK_BOT_TOKEN": "xoxb-SECRET-0123456789", "SLACK_APP_TOKEN": "xapp-SECRET-0123"},
        dotenv_path=None,
    )
    assert "SECRET" not in repr(settings)


async def test_the_cli_at_debug_prints_no_secret(tmp_path: Path) -> None:
    slack = {"SLACK_BOT_TOKEN": "xoxb-SECRET-0123456789", "SLACK_APP_TOKEN": "xapp-SECRET-01"}
    async with Emulator(emulator_config()) as emulator:
        env = {
            "SUPERDUPER_URL": emulator.base_url,
            "SUPERDUPER_TOKEN": TOKEN,
            "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
            "IMAGINE_OUTPUT_DIR": str(tmp_path / "out"),
            "IMAGINE_LOG_LEVEL": "DEBUG",
            **slack,
        }
        console = await Child.start("console", env=env)
        await console.send("/imagine a fox in the logs")
        await console.expect("saved:")
        assert await console.finish() == 0
        emulator.config.token = "rotated-token-0123456789"  # a 401 on every request
        refused = await Child.start("console", env=env)
        await refused.send("/imagine a refused fox")
        await refused.expect("SUPERDUPER_TOKEN")
        assert await refused.finish() == 0
    broken = {"DISCORD_TOKEN": DISCORD_TOKEN, "DISCORD_GUILD_ID": "nope", "IMAGINE_LOG_LEVEL": "?"}
    bad = await Child.start("run", env={**env, **broken})
    assert await bad.finish() == 2

    output = console.output + refused.output + bad.output
    assert "DEBUG" in console.output and "invalid configuration" in bad.output
    assert leaks(output, [TOKEN, DISCORD_TOKEN, *slack.values()]) == []
