"""Slack's 3-second ack does not wait for the core: a core stuck on its database still
gets the command acknowledged, and its answers then reach the user privately."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.access import AccessConfig
from bot.chat import ActionInvocation, ChatPort, DialogSubmission, ImagineCore, Invocation
from bot.service import ImagineBot
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import FakeSlack
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import Mode, slack_bot
from tests.support.harness import fast_bot_config


class HeldCore:
    """The real core behind a gate: every call waits until the test opens it, as a
    core waiting on a locked or slow store would (longer than Slack's 3 s, if need be)."""

    def __init__(self, inner: ImagineBot) -> None:
        self._inner = inner
        self.entered = asyncio.Event()
        self.gate = asyncio.Event()

    def add_chat(self, port: ChatPort) -> None:
        self._inner.add_chat(port)

    async def _hold(self) -> None:
        self.entered.set()
        await self.gate.wait()

    async def imagine(self, invocation: Invocation) -> str | None:
        await self._hold()
        return await self._inner.imagine(invocation)

    async def act(self, action: ActionInvocation) -> None:
        await self._hold()
        await self._inner.act(action)

    async def configure(self, invocation: Invocation) -> None:
        await self._hold()
        await self._inner.configure(invocation)

    async def animate(self, invocation: Invocation) -> str | None:
        await self._hold()
        return await self._inner.animate(invocation)

    async def submit_dialog(self, submission: DialogSubmission) -> None:
        await self._hold()
        await self._inner.submit_dialog(submission)

    async def history(self, invocation: Invocation) -> None:
        await self._hold()
        await self._inner.history(invocation)

    async def show(self, invocation: Invocation) -> None:
        await self._hold()
        await self._inner.show(invocation)


def holding(cores: list[HeldCore]) -> Callable[[ImagineBot], ImagineCore]:
    """A core wrapper for ``slack_bot`` that keeps the held core in ``cores``."""

    def wrap(inner: ImagineBot) -> ImagineCore:
        cores.append(HeldCore(inner))
        return cores[-1]

    return wrap


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_held_up_core_still_gets_the_command_acked_and_then_runs_it(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    cores: list[HeldCore] = []
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", mode=mode, core=holding(cores)
    ) as run:
        [core] = cores
        ack = await run.side.slash(slash_payload(fake_slack, "a patient fox"))
        # Slack has its answer while the core is still stuck inside the command.
        assert (ack.status, ack.text) == (200, "")
        await asyncio.wait_for(core.entered.wait(), timeout=10)
        assert not core.gate.is_set()
        if mode == "socket":
            [envelope_ack] = fake_slack.acks
            assert "payload" not in envelope_ack  # an empty ack
        assert fake_slack.messages == [] and fake_slack.responses == []

        core.gate.set()
        status = await run.wait_status()
        assert "<@U1> is imagining “a patient fox”" in status.text
        await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()
        assert fake_slack.responses == []  # nothing private to say about a success


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_refusal_after_the_ack_reaches_the_user_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    cores: list[HeldCore] = []
    config = fast_bot_config(access=AccessConfig(allowed_users=frozenset({"U1"})))
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", mode=mode, config=config, core=holding(cores)
    ) as run:
        [core] = cores
        payload = slash_payload(fake_slack, "a fox", user="U2", name="refused")
        ack = await run.side.slash(payload)
        assert (ack.status, ack.text) == (200, "")
        await asyncio.wait_for(core.entered.wait(), timeout=10)

        core.gate.set()
        answer = await fake_slack.response("refused")
        assert answer["response_type"] == "ephemeral"
        assert answer["text"].startswith("You're not on the list of people who can use /imagine")
        assert fake_slack.messages == [] and fake_slack.ephemerals == []
        assert await run.harness.store.unfinished_jobs() == []


async def test_a_settings_answer_after_the_ack_reaches_the_admin_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    cores: list[HeldCore] = []
    config = fast_bot_config(access=AccessConfig(admin_users=frozenset({"UADMIN"})))
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", config=config, core=holding(cores)
    ) as run:
        [core] = cores
        payload = slash_payload(
            fake_slack, "steps=12", user="UADMIN", command="/imagine-settings", name="saved"
        )
        ack = await run.side.slash(payload)
        assert (ack.status, ack.text) == (200, "")
        await asyncio.wait_for(core.entered.wait(), timeout=10)

        core.gate.set()
        answer = await fake_slack.response("saved")
        assert answer["response_type"] == "ephemeral" and answer["text"].startswith("Saved.")
