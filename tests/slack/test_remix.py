"""Remix on Slack: the button opens a modal prefilled with the job's command (within the
press's 3-second trigger window, even when the user lookup is slow); submitting it
closes the modal and starts the remix in the same thread, also after a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from adapters.slack.views import DIALOG_VIEW_PATTERN
from bot.chat import ActionKind
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import TRIGGER_LIFETIME, FakeSlack
from tests.slack.test_access import DESIGN, groups_only
from tests.slack.wiring import Mode, slack_bot
from tests.support.clock import ManualClock

PROMPT = "a red fox --ar 3:2 --style anime"


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_the_remix_form_round_trips_into_a_new_job_in_the_thread(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", mode=mode) as run:
        status, result = await run.imagined(PROMPT)
        parent = await run.job_of(result)

        await run.press(result, "remix", user="U2")
        view = await run.wait_view()
        assert view.user == "U2" and DIALOG_VIEW_PATTERN.match(view.callback_id)
        field = view.input()
        assert field["initial_value"] == PROMPT and field["multiline"] is True
        assert field["max_length"] == 3000  # Slack's most for a text input
        metadata = json.loads(view.private_metadata)
        assert (metadata["j"], metadata["c"], metadata["t"]) == (parent.id, "C1", status.ts)

        await run.submit(view, "a blue fox --ar 3:2")
        remix = (await run.wait_results("C1", status.ts, 2))[1]
        await run.harness.bot.drain()
        child = await run.job_of(remix)
        assert child.params.prompt == "a blue fox" and child.action is ActionKind.REMIX
        assert child.parent_job_id == parent.id and child.requester_id == "U2"
        assert f"remix of `{parent.id}`" in run.images("C1", status.ts)[1].text

        await run.press(result, "remix", user="U2")
        await run.submit(await run.wait_view(2), "a fox --ar banana")
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert (note.user, note.channel, note.thread_ts) == ("U2", "C1", status.ts)
        assert "--ar" in note.text
        await run.harness.bot.drain()
        assert len(run.results("C1", status.ts)) == 2  # the bad text started nothing


async def test_an_expired_trigger_gets_the_command_to_run_instead_privately(
    emulator: Emulator, fake_slack: FakeSlack, slack_clock: ManualClock, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        status, result = await run.imagined(PROMPT)
        press = run.press_payload(result, "remix", user="U2")
        slack_clock.advance(TRIGGER_LIFETIME + 0.5)  # the press reached the bot too late
        await run.side.action(press)

        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert [c.params.get("trigger_id") for c in fake_slack.calls_to("views.open")] == [
            press["trigger_id"]
        ]
        assert fake_slack.views == []
    assert (note.user, note.thread_ts) == ("U2", status.ts)
    assert note.text == (
        f"I couldn't open the remix form here. Run it as a command instead:\n`/imagine {PROMPT}`"
    )


async def test_a_cold_user_lookup_does_not_hold_the_form_back_and_a_restart_breaks_nothing(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    """After a restart the group cache is cold and Slack is slow to list the groups: the
    form opens all the same (the trigger lives 3 s), and its submission, after another
    restart, is checked against the groups once Slack answered."""
    db, config = tmp_path / "bot.db", groups_only()
    fake_slack.create_group(DESIGN, "design", ["U1"])
    async with slack_bot(emulator, fake_slack, db, config=config) as run:
        status, result = await run.imagined(PROMPT)

    groups = fake_slack.hold("usergroups.list")
    async with slack_bot(
        emulator, fake_slack, db, config=config, dialog_lookup_budget=0.05
    ) as restarted:
        await restarted.press(result, "remix", user="U1")
        view = await restarted.wait_view()
        assert len(fake_slack.calls_to("usergroups.list")) == 1  # the first run's /imagine
        assert fake_slack.arrivals.count("usergroups.list") == 2  # the press's: still held
        groups.set()

    async with slack_bot(emulator, fake_slack, db, config=config) as again:
        await again.submit(view, "a green fox")
        remix = (await again.wait_results("C1", status.ts, 2))[1]
        await again.harness.bot.drain()
        child = await again.job_of(remix)
    assert child.params.prompt == "a green fox" and child.requester_id == "U1"
