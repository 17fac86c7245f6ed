"""Property tests of the Slack adapter's payload parsers (pure functions): any JSON-shaped
button payload is our action or ``None``, never an exception; action ids and mentions
parse totally. (Discord's typed options reach the core's command parser, whose property
tests are in tests/test_command_parser.py; discord.py validates the interaction itself.)"""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.ids import action_id, parse_action_id
from adapters.slack.translate import action_invocation, strip_mention
from bot.chat import ActionKind

JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=10,
)
JOB_IDS = st.from_regex(r"[A-Za-z0-9_-]{1,64}", fullmatch=True)


@st.composite
def button_payloads(draw: st.DrawFn) -> dict[str, Any]:
    """Shaped like Slack's block_actions body, any part of it missing or of the wrong type."""
    action: Any = {
        "action_id": draw(
            st.builds(action_id, st.sampled_from(list(ActionKind)), JOB_IDS) | JSON_VALUES
        ),
        "value": draw(JSON_VALUES),
    }
    body: dict[str, Any] = {
        "actions": draw(st.just([action]) | JSON_VALUES),
        "message": draw(st.fixed_dictionaries({"ts": st.text(max_size=12)}) | JSON_VALUES),
        "container": draw(JSON_VALUES),
        "channel": draw(st.fixed_dictionaries({"id": st.text(max_size=12)}) | JSON_VALUES),
        "user": draw(st.fixed_dictionaries({"id": st.text(max_size=12)}) | JSON_VALUES),
        "team": draw(JSON_VALUES),
    }
    for key in draw(st.sets(st.sampled_from(list(body)))):
        del body[key]
    return body


@given(body=button_payloads())
def test_any_button_payload_is_our_action_or_none(body: dict[str, Any]) -> None:
    action = action_invocation(body)
    if action is not None:
        assert action.kind in ActionKind and action.job_id
        assert action.conversation.platform == "slack" and action.conversation.channel


@given(
    value=st.text(max_size=80) | st.builds(action_id, st.sampled_from(list(ActionKind)), JOB_IDS)
)
def test_any_action_id_parses_to_ours_or_none(value: str) -> None:
    parsed = parse_action_id(value)
    if parsed is not None:
        assert action_id(*parsed) == value


@given(text=st.text(max_size=120), bot=st.text(min_size=1, max_size=12))
def test_stripping_mentions_never_fails_and_removes_every_one(text: str, bot: str) -> None:
    stripped = strip_mention(f"<@{bot}> {text} <@{bot}|imagine>", bot)
    assert f"<@{bot}>" not in stripped and f"<@{bot}|imagine>" not in stripped
