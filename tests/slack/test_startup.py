"""Wrong tokens stop the start with a message naming the setting, never the token."""

from __future__ import annotations

import pytest

from adapters.slack import SlackAdapter, SlackSettings, SlackStartupError
from bot.chat import ActionInvocation, ChatPort, Invocation
from tests.slack.fakes.slack_api import APP_TOKEN, BOT_TOKEN, FakeSlack


class NoCore:
    """Start fails before the adapter would talk to the core."""

    def __init__(self) -> None:
        self.chats: list[ChatPort] = []

    def add_chat(self, port: ChatPort) -> None:
        self.chats.append(port)

    async def imagine(self, invocation: Invocation) -> str | None:
        raise AssertionError("not reached")

    async def act(self, action: ActionInvocation) -> None:
        raise AssertionError("not reached")


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
