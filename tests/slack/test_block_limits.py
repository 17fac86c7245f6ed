"""Block Kit's limits: the fake refuses what Slack refuses (``invalid_blocks``), and the
adapter's buttons stay inside them whatever the core asks for."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack.ids import MAX_ACTION_ID, action_id, parse_action_id
from adapters.slack.views import MAX_INPUT
from bot.chat import Action, ActionKind, Conversation, DeliveryError, Upload
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_TOKEN, TEAM, FakeSlack
from tests.slack.wiring import slack_bot


def button(n: int, **overrides: Any) -> dict[str, Any]:
    return {
        "type": "button",
        "action_id": f"a{n}",
        "text": {"type": "plain_text", "text": f"B{n}"},
        **overrides,
    }


def actions(*elements: dict[str, Any], block_id: str = "row") -> dict[str, Any]:
    return {"type": "actions", "block_id": block_id, "elements": list(elements)}


def section(text: str, block_id: str = "text") -> dict[str, Any]:
    return {"type": "section", "block_id": block_id, "text": {"type": "mrkdwn", "text": text}}


@pytest.fixture
async def web(fake_slack: FakeSlack) -> AsyncIterator[AsyncWebClient]:
    yield AsyncWebClient(token=BOT_TOKEN, base_url=fake_slack.api_base)


@pytest.mark.parametrize(
    ("blocks", "problem"),
    [
        ([actions(*(button(n) for n in range(26)))], "must be less than 26 items"),
        ([actions(button(1, text={"type": "plain_text", "text": "x" * 76}))], "76 characters"),
        ([actions(button(1, action_id="x" * 256))], "256 characters"),
        ([section("x" * 3001)], "3001 characters"),
        ([section(f"{n}", block_id=f"b{n}") for n in range(51)], "must be less than 51 items"),
        ([actions(button(1), button(1))], "duplicate action_id"),
        ([section("a"), section("b")], "duplicate block_id"),
        ([actions()], "must be more than 0 items"),
    ],
    ids=[
        "26 buttons",
        "button text",
        "action_id",
        "section text",
        "51 blocks",
        "same action",
        "same block",
        "no buttons",
    ],
)
async def test_the_fake_refuses_blocks_that_slack_refuses(
    web: AsyncWebClient, blocks: list[dict[str, Any]], problem: str
) -> None:
    with pytest.raises(SlackApiError) as refused:
        await web.chat_postMessage(channel="C1", text="t", blocks=blocks)
    assert refused.value.response["error"] == "invalid_blocks"
    assert any(problem in e for e in refused.value.response["errors"])
    # the same limits hold when a message is edited
    ok = await web.chat_postMessage(channel="C1", text="t", blocks=[section("fine")])
    with pytest.raises(SlackApiError):
        await web.chat_update(channel="C1", ts=ok["ts"], text="t", blocks=blocks)


async def test_the_fake_accepts_the_most_slack_accepts(web: AsyncWebClient) -> None:
    rows = [actions(*(button(n) for n in range(25)), block_id=f"r{r}") for r in range(49)]
    long_label = button(1, text={"type": "plain_text", "text": "x" * 75})
    blocks = [section("x" * 3000), *rows[:48], actions(long_label, block_id="last")]
    assert (await web.chat_postMessage(channel="C1", text="t", blocks=blocks))["ok"]


async def test_the_fake_refuses_a_modal_beyond_the_input_limit_and_a_reused_trigger(
    web: AsyncWebClient, fake_slack: FakeSlack
) -> None:
    trigger = fake_slack.issue_trigger("U1")
    element = {"type": "plain_text_input", "action_id": "t", "max_length": MAX_INPUT + 1}
    view = {
        "type": "modal",
        "title": {"type": "plain_text", "text": "Remix"},
        "submit": {"type": "plain_text", "text": "Go"},
        "blocks": [
            {
                "type": "input",
                "block_id": "b",
                "label": {"type": "plain_text", "text": "Prompt"},
                "element": element,
            }
        ],
    }
    with pytest.raises(SlackApiError) as refused:
        await web.views_open(trigger_id=trigger, view=view)
    assert refused.value.response["error"] == "invalid_arguments"
    element["max_length"] = MAX_INPUT
    element["initial_value"] = "x" * (MAX_INPUT + 1)
    with pytest.raises(SlackApiError):
        await web.views_open(trigger_id=trigger, view=view)
    element["initial_value"] = "x" * MAX_INPUT
    assert (await web.views_open(trigger_id=trigger, view=view))["ok"]
    with pytest.raises(SlackApiError) as again:
        await web.views_open(trigger_id=trigger, view=view)
    assert again.value.response["error"] == "exchanged_trigger_id"  # a trigger works once
    with pytest.raises(SlackApiError) as unknown:
        await web.views_open(trigger_id="1.2.3", view=view)
    assert unknown.value.response["error"] == "invalid_trigger_id"  # not one Slack issued


def test_the_longest_action_id_fits_and_reads_back() -> None:
    longest_kind = max(ActionKind, key=lambda k: len(k.value))
    job_id = "j" * 64
    value = action_id(longest_kind, job_id, 99)
    assert len(value) <= MAX_ACTION_ID
    assert parse_action_id(value) == (longest_kind, job_id, 99)
    for kind in ActionKind:
        assert parse_action_id(action_id(kind, "k3f9q2", 3)) == (kind, "k3f9q2", 3)
        assert parse_action_id(action_id(kind, "k3f9q2")) == (kind, "k3f9q2", None)
    with pytest.raises(ValueError, match="does not fit"):
        action_id(ActionKind.UPSCALE, "j" * 65, 0)
    with pytest.raises(ValueError, match="does not fit"):
        action_id(ActionKind.UPSCALE, "k3f9q2", 100)


async def test_buttons_beyond_slacks_limits_are_left_out_not_refused(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """Whatever the core asks for, Slack gets a message it accepts: at most 25 buttons a
    row, 50 blocks, 75-character labels, and no button whose id Slack could not carry."""
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        where = Conversation("slack", TEAM, "C1", None)
        many = [Action(ActionKind.UPSCALE, "job1", "U" * 80, i % 100, row=0) for i in range(30)]
        many += [Action(ActionKind.REROLL, f"job{r}", "Re-roll", row=r) for r in range(1, 60)]
        many.append(Action(ActionKind.DELETE, "j" * 65, "Delete", row=1))
        upload = Upload(b"png", "a.png", "image/png")
        ref = await run.adapter.port.post_media(where, upload, "caption", many, "k:0")
        status = await run.adapter.port.post_text(where, "status " * 1000, many)

        card = fake_slack.message(ref.split("/")[0])
        assert card is not None and card.blocks is not None
        assert len(card.blocks) == 50 and len(card.blocks[0]["elements"]) == 25
        assert {len(e["text"]["text"]) for e in card.blocks[0]["elements"]} == {75}
        assert not any("j" * 65 in a for a in card.action_ids)
        text = fake_slack.message(status)
        assert text is not None and text.blocks is not None and len(text.blocks) == 50
        fake_slack.failing["chat.postMessage"] = "invalid_blocks"
        with pytest.raises(DeliveryError, match="invalid_blocks") as refused:
            await run.adapter.port.post_text(where, "status", many)
    assert refused.value.permanent  # a layout Slack refuses: retrying cannot help
