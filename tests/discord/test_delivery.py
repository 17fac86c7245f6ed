"""Delivery through the bot's own REST API: exactly-once posts, refusals as DeliveryError."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chat import Action, ActionKind, DeliveryError, Upload
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import discord_stack, images_in, started_job
from tests.support.superduper import file_ids


async def test_the_same_dedupe_key_posted_twice_leaves_one_message(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    thread = fake.add_thread(fake.general, "results")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        where = stack.adapter.port.conversation(fake.guild_id, thread.parent_id, thread.id)
        actions = [Action(ActionKind.REROLL, "job1", "Re-roll")]
        one = Upload(b"\x89PNG one", "a.png", "image/png")
        two = Upload(b"\x89PNG two", "b.png", "image/png")
        port = stack.adapter.port
        first = await port.post_media(where, one, "one", actions, "job1:0")
        again = await port.post_media(where, one, "one", actions, "job1:0")
        other = await port.post_media(where, two, "two", actions, "job1:1")

        assert first == again != other
        assert [m.content for m in images_in(fake, thread)] == ["one", "two"]


async def test_a_result_posted_before_a_crash_is_not_posted_twice(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    """The previous process posted the image, then died before recording it."""
    alice = fake.add_user("alice")
    emulator.config.manual_completion = True
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox"})
        job = await started_job(stack)
        thread = int(job.thread or 0)
        posted_earlier = await stack.adapter.port.post_media(
            job.conversation,
            Upload(b"\x89PNG earlier", "fox.png", "image/png"),
            "earlier",
            [],
            f"{job.id}:0",
        )

        await emulator.finish(file_ids(job)[0])
        await stack.bot.drain()

        done = await stack.harness.store.get_job(job.id)
        assert done is not None and done.state is JobState.POSTED
        assert done.posted_message_ids == (posted_earlier,)
        assert [m.id for m in images_in(fake, thread)] == [int(posted_earlier)]


@pytest.mark.parametrize(("status", "wording"), [(403, "not allowed"), (404, "can't reach")])
async def test_refusals_from_discord_are_permanent_delivery_errors(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path, status: int, wording: str
) -> None:
    thread = fake.add_thread(fake.general, "results")
    fake.denied[thread.id] = status
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        where = stack.adapter.port.conversation(fake.guild_id, thread.parent_id, thread.id)
        with pytest.raises(DeliveryError) as refused:
            await stack.adapter.port.post_text(where, "hello")
        assert refused.value.permanent and wording in str(refused.value)
        assert fake.token not in str(refused.value)
        assert fake.messages_in(thread) == []
