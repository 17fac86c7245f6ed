"""What users type and click, as the core will see it; settings that keep secrets out of logs."""

from __future__ import annotations

from typing import Any

import pytest

from adapters.slack.settings import SlackSettings
from adapters.slack.translate import (
    PressContext,
    action_invocation,
    mention_invocation,
    strip_mention,
)
from bot.chat import ActionKind, Attachment
from tests.slack.fakes.slack_api import FakeSlack
from tests.slack.fakes.slack_side import button_payload, mention_event


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("<@UBOT> a watercolor fox", "a watercolor fox"),
        ("<@UBOT|imagine>   a fox --seed 3", "a fox --seed 3"),
        ("a fox for <@U2> by <@UBOT>", "a fox for <@U2> by"),
        ("<@UBOT>", ""),
    ],
)
def test_the_bot_mention_is_removed_and_other_mentions_kept(text: str, expected: str) -> None:
    assert strip_mention(text, "UBOT") == expected


def test_a_button_press_names_the_job_the_clicker_and_the_result(fake_slack: FakeSlack) -> None:
    payload = button_payload(
        fake_slack, message_ts="17.5", action_id="imagine:delete:k3f9q2", value="F1", user="U7"
    )
    action = action_invocation(payload)
    assert action is not None
    assert (action.kind, action.job_id, action.message_id) == (
        ActionKind.DELETE,
        "k3f9q2",
        "17.5/F1",
    )
    assert action.requester.user_id == "U7" and action.conversation.channel == "C1"
    payload["actions"][0]["action_id"] = "someone-elses-button"
    assert action_invocation(payload) is None


def test_a_grid_press_names_its_image_and_keeps_the_trigger(fake_slack: FakeSlack) -> None:
    payload = button_payload(
        fake_slack,
        message_ts="17.5",
        action_id="imagine:vary_strong:k3f9q2:1",
        value="F1",
        user="U7",
    )
    action = action_invocation(payload, received_at=42.0)
    assert action is not None
    assert (action.kind, action.index) == (ActionKind.VARY_STRONG, 1)
    assert action.context == PressContext(payload["trigger_id"], 42.0)


def test_files_shared_with_a_mention_are_its_attachments_images_first() -> None:
    files: list[dict[str, Any]] = [
        {"id": "F1", "name": "notes.pdf", "mimetype": "application/pdf", "size": 10,
         "url_private": "https://files.slack.com/files-pri/T-F1/notes.pdf"},
        {"id": "F2", "name": "fox.png", "mimetype": "image/png", "size": 2048,
         "url_private": "https://files.slack.com/files-pri/T-F2/fox.png"},
        {"id": "F3", "mode": "tombstone"},  # a deleted file: nothing to fetch
    ]  # fmt: skip
    event = mention_event("<@UBOT> a fox", ts="1.1", files=files)["event"]
    invocation = mention_invocation(event, "T1", "UBOT")
    assert invocation.text == "a fox"
    assert invocation.attachments == (
        Attachment("https://files.slack.com/files-pri/T-F2/fox.png", "fox.png", "image/png", 2048),
        Attachment(
            "https://files.slack.com/files-pri/T-F1/notes.pdf", "notes.pdf", "application/pdf", 10
        ),
    )


def test_settings_hide_tokens_and_name_what_is_missing() -> None:
    settings = SlackSettings(
        bot_token="xoxb-secret", app_token="xapp-secret", api_base="http://x/api"
    )
    assert "secret" not in repr(settings)
    assert settings.socket_mode and settings.api_base == "http://x/api/"
    with pytest.raises(ValueError, match=r"SLACK_APP_TOKEN.*SLACK_SIGNING_SECRET"):
        SlackSettings(bot_token="xoxb-secret")
