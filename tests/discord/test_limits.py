"""Discord's component and modal limits: the bot's layouts stay within them, and the fake
Discord refuses what Discord refuses (400 Invalid Form Body, code 50035)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import aiohttp
import discord
import pytest
from discord.http import Route

from adapters.discord.buttons import CUSTOM_ID_TEMPLATE, custom_id, result_view
from adapters.discord.dialogs import build_modal
from bot.backend.types import Capability
from bot.chat import Action, ActionKind, Dialog
from bot.command import CommandDefaults
from bot.command_parser import parse_imagine
from bot.jobs import Job, JobState
from bot.results import grid_actions, single_actions, video_actions
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord, FakeInteraction
from tests.discord.fake.limits import message_component_errors, modal_errors
from tests.discord.support import discord_stack

EVERYTHING = frozenset({Capability.IMAGE_REFERENCES, Capability.VIDEO})
ID64 = "k" * 64


def job(job_id: str = ID64) -> Job:
    params = parse_imagine("a fox", CommandDefaults())
    return Job(job_id, "discord", "1", "2", "3", "alice", params, JobState.POSTED, 0.0, 0.0)


def rows(actions: list[Action]) -> list[dict[str, Any]]:
    view = result_view(actions)
    assert view is not None
    return view.to_components()


def button(custom: str, label: str = "Go") -> dict[str, Any]:
    return {"type": 2, "style": 2, "label": label, "custom_id": custom}


def row(*buttons: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "components": list(buttons)}


async def test_every_result_layout_fits_discords_limits_even_with_the_longest_job_id() -> None:
    layouts = {
        "grid": grid_actions(job(), EVERYTHING, [0, 1, 2, 3]),
        "single": single_actions(job(), EVERYTHING, 3),
        "video": video_actions(job()),
        "status": [Action(ActionKind.CANCEL, ID64, "Cancel")],
    }
    for name, actions in layouts.items():
        components = rows(actions)
        assert message_component_errors(components) == {}, name
        ids = [b["custom_id"] for r in components for b in r["components"]]
        assert len(ids) == len(actions) and all(len(i) <= 100 for i in ids), name
        assert all(re.fullmatch(CUSTOM_ID_TEMPLATE, i) for i in ids), name  # found after restart
    assert [len(r["components"]) for r in rows(layouts["grid"])] == [4, 4, 2]
    assert [len(r["components"]) for r in rows(layouts["single"])] == [4, 3]


async def test_too_many_buttons_are_cut_to_five_rows_of_five_and_long_labels_clipped() -> None:
    crowded = [Action(ActionKind.REROLL, f"job{i}", "x" * 120, row=i % 2) for i in range(30)]
    components = rows(crowded)

    assert [len(r["components"]) for r in components] == [5] * 5
    assert all(len(b["label"]) == 80 for r in components for b in r["components"])
    assert message_component_errors(components) == {}


def test_a_job_id_that_would_not_survive_in_a_custom_id_is_refused() -> None:
    assert len(custom_id(ActionKind.VARY_SUBTLE, ID64, 99)) <= 100
    with pytest.raises(ValueError):
        custom_id(ActionKind.REROLL, "k" * 65)
    with pytest.raises(ValueError):
        custom_id(ActionKind.REROLL, "no spaces")


def test_the_fake_refuses_what_discord_refuses_in_components() -> None:
    assert message_component_errors([row(button(f"b{i}")) for i in range(6)])  # 6 rows
    assert message_component_errors([row(*(button(f"b{i}") for i in range(6)))])  # 6 in a row
    assert message_component_errors([row(button("x" * 101))])  # custom_id > 100
    assert message_component_errors([row(button("a", "L" * 81))])  # label > 80
    assert message_component_errors([row(button("a"), button("a"))])  # duplicate ids
    assert (
        message_component_errors([row(*(button(f"b{r}{i}") for i in range(5))) for r in range(5)])
        == {}
    )


async def test_the_fake_answers_oversized_components_with_invalid_form_body(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=fake.general.id)
        for components in (
            [row(button(f"b{i}")) for i in range(6)],
            [row(*(button(f"b{i}") for i in range(6)))],
            [row(button("x" * 101))],
        ):
            with pytest.raises(discord.HTTPException) as refused:
                await stack.adapter.client.http.request(
                    route, json={"content": "too many", "components": components}
                )
            assert (refused.value.status, refused.value.code) == (400, 50035)
        assert fake.messages_in(fake.general) == []


def test_the_remix_modal_fits_discords_limits_even_with_a_long_text() -> None:
    dialog = Dialog(ActionKind.REMIX, ID64, "Remix " * 20, "Prompt and flags " * 5, "x" * 5000)
    modal = build_modal(dialog).to_dict()

    assert modal_errors(modal) == {}
    [field] = modal["components"]
    assert len(field["component"]["value"]) == 4000 and len(modal["title"]) <= 45
    too_long = {**field, "component": {**field["component"], "value": "x" * 4001}}
    assert modal_errors({**modal, "components": [too_long]})
    assert modal_errors({**modal, "title": "t" * 46})
    assert modal_errors({**modal, "components": [field] * 6})


async def _callback(fake: FakeDiscord, interaction: FakeInteraction, body: dict[str, Any]) -> Any:
    url = f"{fake.api_base}/interactions/{interaction.id}/{interaction.token}/callback"
    async with aiohttp.ClientSession() as session, session.post(url, json=body) as answer:
        return answer.status, await answer.json()


async def test_the_fake_allows_a_modal_only_as_a_first_answer_within_4000_chars(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    remix = build_modal(Dialog(ActionKind.REMIX, "abc", "Remix", "Prompt", "a fox")).to_dict()
    modal = {**remix, "custom_id": "not-ours"}  # a press and a submit the bot leaves alone
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        posted = await stack.adapter.port.post_text(
            stack.adapter.port.conversation(fake.guild_id, fake.general.id, None), "hello"
        )
        target = fake.messages[int(posted)]
        press = await fake.click(alice, target, "not-ours:1")
        [field] = modal["components"]
        oversized = {**field, "component": {**field["component"], "value": "x" * 4001}}

        refused = await _callback(
            fake, press, {"type": 9, "data": {**modal, "components": [oversized]}}
        )
        accepted = await _callback(fake, press, {"type": 9, "data": modal})
        second = await _callback(fake, press, {"type": 9, "data": modal})
        with pytest.raises(ValueError):
            await fake.submit_modal(alice, press, {"text": "x" * 4001})  # can't be typed
        submit = await fake.submit_modal(alice, press, {"text": "edited"})
        to_a_submit = await _callback(fake, submit, {"type": 9, "data": modal})

    assert (refused[0], refused[1]["code"]) == (400, 50035)
    assert accepted[0] == 200 and press.modal == modal
    assert (second[0], second[1]["code"]) == (400, 40060)  # already answered
    assert (to_a_submit[0], to_a_submit[1]["code"]) == (400, 50035)
