"""Start-up: wrong tokens and a busy port stop the start with one line naming the
setting (never a secret); a good start logs only what an operator should see."""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from slack_bolt.async_app import AsyncApp
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.adapter import SlackAdapter, SlackStartupError
from adapters.slack.settings import SlackSettings
from bot.chat import ActionInvocation, ChatPort, DialogSubmission, Invocation
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack
from tests.slack.fakes.slack_side import SIGNING_SECRET
from tests.support.child import Child
from tests.support.harness import TOKEN

TOKEN_UNUSED = "`token` will be unused"


class NoCore:
    """Start fails (or ends) before the adapter would talk to the core."""

    def __init__(self) -> None:
        self.chats: list[ChatPort] = []

    def add_chat(self, port: ChatPort) -> None:
        self.chats.append(port)

    async def imagine(self, invocation: Invocation) -> str | None:
        raise AssertionError("not reached")

    async def act(self, action: ActionInvocation) -> None:
        raise AssertionError("not reached")

    async def configure(self, invocation: Invocation) -> None:
        raise AssertionError("not reached")

    async def animate(self, invocation: Invocation) -> str | None:
        raise AssertionError("not reached")

    async def submit_dialog(self, submission: DialogSubmission) -> None:
        raise AssertionError("not reached")

    async def history(self, invocation: Invocation) -> None:
        raise AssertionError("not reached")

    async def show(self, invocation: Invocation) -> None:
        raise AssertionError("not reached")


@pytest.fixture
def busy_port() -> Iterator[int]:
    """A loopback port something else is listening on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        yield int(taken.getsockname()[1])


def http_settings(fake: FakeSlack, port: int) -> SlackSettings:
    return SlackSettings(
        bot_token=BOT_TOKEN, signing_secret=SIGNING_SECRET, http_port=port, api_base=fake.api_base
    )


@pytest.mark.parametrize(
    ("bot_token", "app_token", "named"),
    [
        ("xoxb-revoked-token-42", APP_TOKEN, "SLACK_BOT_TOKEN"),
        (BOT_TOKEN, "xapp-revoked-token-42", "SLACK_APP_TOKEN"),
    ],
)
async def test_a_refused_token_names_the_setting(
    fake_slack: FakeSlack, bot_token: str, app_token: str, named: str
) -> None:
    settings = SlackSettings(bot_token=bot_token, app_token=app_token, api_base=fake_slack.api_base)
    adapter = SlackAdapter(NoCore(), settings, host="127.0.0.1")
    with pytest.raises(SlackStartupError) as refused:
        await adapter.start()
    await adapter.aclose()
    assert named in str(refused.value) and "invalid_auth" in str(refused.value)
    assert "revoked-token" not in str(refused.value)


async def test_a_busy_http_port_is_one_line_naming_slack_http_port(
    fake_slack: FakeSlack, busy_port: int
) -> None:
    adapter = SlackAdapter(NoCore(), http_settings(fake_slack, busy_port), host="127.0.0.1")
    with pytest.raises(SlackStartupError) as refused:
        await adapter.start()
    await adapter.aclose()
    message = str(refused.value)
    assert f"SLACK_HTTP_PORT {busy_port}" in message and "already in use" in message
    assert "\n" not in message
    assert SIGNING_SECRET not in message and BOT_TOKEN not in message
    assert adapter.http_port is None


async def test_imagine_bot_run_on_a_busy_port_exits_2_with_that_line(
    tmp_path: Path, emulator: Emulator, fake_slack: FakeSlack, busy_port: int
) -> None:
    env = {
        "SUPERDUPER_URL": emulator.base_url,
        "SUPERDUPER_TOKEN": TOKEN,
        "SLACK_BOT_TOKEN": BOT_TOKEN,
        "SLACK_SIGNING_SECRET": SIGNING_SECRET,
        "SLACK_HTTP_PORT": str(busy_port),
        "SLACK_API_BASE": fake_slack.api_base,
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_LOG_LEVEL": "INFO",
    }
    child = await Child.start("run", env=env)
    assert await child.finish() == 2
    [line] = [line for line in child.lines if "SLACK_HTTP_PORT" in line]
    assert line.startswith("imagine-bot: Cannot listen for Slack on SLACK_HTTP_PORT")
    assert str(busy_port) in line and "Traceback" not in child.output
    assert BOT_TOKEN not in child.output and SIGNING_SECRET not in child.output


async def test_bolts_token_unused_warning_stays_out_of_the_log(
    fake_slack: FakeSlack, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Deployments set SLACK_BOT_TOKEN in the environment, and Bolt reads it there even
    when it is given a client. Without the adapter's filter, this is what it logs:"""
    monkeypatch.setenv("SLACK_BOT_TOKEN", BOT_TOKEN)
    caplog.set_level(logging.DEBUG)
    AsyncApp(client=AsyncWebClient(token=BOT_TOKEN), signing_secret=SIGNING_SECRET)
    assert any(TOKEN_UNUSED in r.getMessage() for r in caplog.records)  # the cause is real
    caplog.clear()

    for settings in (
        http_settings(fake_slack, 0),
        SlackSettings(bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_base=fake_slack.api_base),
    ):
        adapter = SlackAdapter(NoCore(), settings, host="127.0.0.1")
        await adapter.start()
        await adapter.aclose()

    logged = [r.getMessage() for r in caplog.records]
    assert not [m for m in logged if TOKEN_UNUSED in m]
    assert [m for m in logged if m.startswith("Slack: ")] == [
        m for m in logged if "@imagine (UBOT0001) in workspace T0FAKE" in m
    ]  # a good start: one line per transport, naming the bot, and no warning
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logging.getLogger("slack_bolt.AsyncApp").filters == []  # nothing left behind
