"""``/imagine-history``, ``/imagine-show`` and ``/animate`` as a user sees them."""

from __future__ import annotations

from pathlib import Path

from adapters.discord.adapter import SHOWN
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import discord_stack, images_in, labelled, new_thread, private_answer


async def test_history_lists_my_jobs_privately_with_links_to_their_threads(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice, bob = fake.add_user("alice"), fake.add_user("bob")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        threads = []
        asks = ((alice, "an old fox"), (alice, "a new fox"), (bob, "bob's owl"))
        for count, (user, prompt) in enumerate(asks, start=1):
            await fake.slash_imagine(user, fake.general, {"prompt": prompt})
            threads.append(await new_thread(fake, count=count))
            [result] = await stack.results_in(threads[-1])
        asked = await fake.slash_command(alice, fake.general, "imagine-history", {})
        answer = await private_answer(fake, asked)

    title, newest, oldest = answer.splitlines()
    assert title == "Your last jobs:"
    assert "“a new fox” · posted · just now" in newest and "“an old fox”" in oldest
    guild = fake.guild_id
    assert newest.endswith(f" · https://discord.com/channels/{guild}/{threads[1].id}")
    assert oldest.endswith(f" · https://discord.com/channels/{guild}/{threads[0].id}")
    assert "owl" not in answer and result.channel_id == threads[2].id


async def test_show_posts_a_result_again_where_asked_with_working_buttons(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    art = fake.add_channel("art")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox to show"})
        [original] = await stack.results_in(await new_thread(fake))
        job = await stack.job_of(original)

        asked = await fake.slash_command(alice, art, "imagine-show", {"job": job.id})
        await fake.until(lambda: len(images_in(fake, art)) == 1)
        [shown] = images_in(fake, art)
        answer = await private_answer(fake, asked)
        unknown = await fake.slash_command(alice, art, "imagine-show", {"job": "nope99"})
        unknown_answer = await private_answer(fake, unknown)

        await fake.click(alice, shown, labelled(shown, "Upscale 2×"))
        [upscaled] = await stack.results_in(await new_thread(fake, art))

    assert shown.attachments[0].data == original.attachments[0].data
    assert shown.custom_ids() == original.custom_ids()
    assert answer == SHOWN
    assert "I don't know a job `nope99`" in unknown_answer
    assert f"upscale of image 1 of `{job.id}`" in upscaled.content


async def test_animate_on_superduper_says_kindly_that_videos_are_not_offered(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_command(
            alice, fake.general, "animate", {"prompt": "a fox running", "seconds": 4}
        )
        answer = await private_answer(fake, asked)
        unfinished = await stack.harness.store.unfinished_jobs()

    assert "The superduper image service here doesn't make videos" in answer
    assert "/imagine-settings backend=" in answer
    assert unfinished == [] and fake.messages_in(fake.general) == []
    assert sum(emulator.counters.requests.values()) == 0
