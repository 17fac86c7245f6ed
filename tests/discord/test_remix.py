"""Remix on Discord: the button answers with a modal prefilled with the job's command; the
edited text starts a child job in the same thread — also when the form was opened by the
process before a restart."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.chat import ActionKind
from bot.jobs import ChannelKey, ChannelSettings
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.discord.fake import FakeDiscord, FakeMessage, FakeUser
from tests.discord.support import DiscordStack, discord_stack, images_in, labelled, new_thread
from tests.support.faulty_store import FaultyStore

MODAL, DEFERRED_UPDATE_MESSAGE = 9, 6
PARAGRAPH = 2


async def fox(stack: DiscordStack, user: FakeUser) -> FakeMessage:
    fake = stack.fake
    await fake.slash_imagine(user, fake.general, {"prompt": "a red fox --ar 3:2 --style anime"})
    [result] = await stack.results_in(await new_thread(fake))
    return result


async def test_remix_opens_a_prefilled_modal_and_the_edited_text_starts_a_child_in_the_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        result = await fox(stack, alice)
        parent = await stack.job_of(result)
        thread = fake.channels[result.channel_id]

        press = await fake.click(bob, result, labelled(result, "Remix"))
        await fake.until(lambda: press.modal is not None)
        submit = await fake.submit_modal(bob, press, {"text": "a blue fox --ar 3:2"})
        _, remixed = await stack.results_in(thread, count=2)
        child = await stack.job_of(remixed)

    assert press.callback_types == [MODAL]  # the form is the answer to the press
    modal = press.modal
    assert modal is not None and modal["custom_id"] == f"imagine-dialog:remix:{parent.id}"
    assert modal["title"] == "Remix"
    [field] = modal["components"]
    assert field["label"] == "Prompt and flags"
    text_input = field["component"]
    assert text_input["value"] == "a red fox --ar 3:2 --style anime"
    assert (text_input["style"], text_input["max_length"]) == (PARAGRAPH, 4000)
    assert submit.callback_types == [DEFERRED_UPDATE_MESSAGE]
    assert child.parent_job_id == parent.id and child.action is ActionKind.REMIX
    assert child.params.prompt == "a blue fox" and child.requester_id == str(bob.id)
    assert (child.params.width, child.params.height) == (parent.params.width, parent.params.height)
    assert f"remix of `{parent.id}`" in remixed.content
    assert remixed.channel_id == thread.id and len(fake.threads_of(fake.general)) == 1


async def test_a_remix_that_does_not_parse_gets_the_friendly_private_error(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        result = await fox(stack, alice)
        press = await fake.click(alice, result, labelled(result, "Remix"))
        await fake.until(lambda: press.modal is not None)
        submit = await fake.submit_modal(alice, press, {"text": "a fox --ar banana"})
        await fake.until(lambda: bool(submit.followups))
        await stack.bot.drain()

    [note] = submit.followups
    assert note["flags"] == 64 and "--ar" in note["content"]
    assert images_in(fake, result.channel_id) == [result]
    assert [m.content for m in fake.messages_in(result.channel_id)] == [result.content]


async def test_a_remix_form_opened_before_a_restart_still_starts_the_job(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    db = tmp_path / "bot.db"
    async with discord_stack(emulator, fake, db) as stack:
        result = await fox(stack, alice)
        parent = await stack.job_of(result)
        press = await fake.click(alice, result, labelled(result, "Remix"))
        await fake.until(lambda: press.modal is not None)

    async with discord_stack(emulator, fake, db) as stack:  # a new process
        submit = await fake.submit_modal(alice, press, {"text": "a fox after the restart"})
        _, remixed = await stack.results_in(result.channel_id, count=2)
        child = await stack.job_of(remixed)

    assert submit.callback_types == [DEFERRED_UPDATE_MESSAGE]
    assert child.parent_job_id == parent.id and child.params.prompt == "a fox after the restart"


class HeldSettings(FaultyStore):
    """Channel settings reads wait while ``held`` is set (a store slower than Discord's 3 s)."""

    def __init__(self, inner: SqliteJobStore) -> None:
        super().__init__(inner)
        self.held: asyncio.Event | None = None

    async def get_channel_settings(self, key: ChannelKey) -> ChannelSettings:
        if self.held is not None:
            await self.held.wait()
        return await super().get_channel_settings(key)


async def test_a_remix_press_the_core_is_slow_on_is_answered_in_time_and_offers_the_command(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    made: list[HeldSettings] = []

    def wrap(inner: SqliteJobStore) -> HeldSettings:
        made.append(HeldSettings(inner))
        return made[-1]

    async with discord_stack(
        emulator, fake, tmp_path / "bot.db", wrap_store=wrap, answer_deadline=0.05
    ) as stack:
        result = await fox(stack, alice)
        released = made[0].held = asyncio.Event()
        press = await fake.click(alice, result, labelled(result, "Remix"))
        await fake.until(lambda: press.callback_types == [DEFERRED_UPDATE_MESSAGE])
        released.set()
        await fake.until(lambda: bool(press.followups))

    [note] = press.followups
    assert press.modal is None
    assert "couldn't open the remix form" in note["content"]
    assert "/imagine a red fox --ar 3:2 --style anime" in note["content"]
