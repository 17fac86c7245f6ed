"""``/imagine-history``, ``/imagine-show``, ``/animate`` and the Animate button as a user
sees them."""

from __future__ import annotations

from pathlib import Path

from adapters.discord.adapter import SHOWN
from bot.backend.types import Task
from bot.media.video import inspect_video
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import (
    discord_stack,
    images_in,
    labelled,
    labels_by_row,
    new_thread,
    private_answer,
)


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


async def test_animate_posts_a_playable_clip_in_a_new_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_command(
            alice, fake.general, "animate", {"prompt": "a fox running", "seconds": 3}
        )
        thread = await new_thread(fake)
        [clip] = await stack.results_in(thread)
        job = await stack.job_of(clip)
        answer = await private_answer(fake, asked)

    assert answer == f"Started — follow along in <#{thread.id}>."
    [attachment] = clip.attachments
    assert attachment.filename.endswith(".mp4") and attachment.content_type == "video/mp4"
    media = await inspect_video(attachment.data, declared_type="video/mp4", max_pixels=10**7)
    assert media.duration == 3.0 and "3 s clip" in clip.content
    assert labels_by_row(clip) == [["Re-roll", "Delete"]]
    assert job.params.task is Task.VIDEO


async def test_the_animate_button_posts_a_clip_of_that_image_in_the_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a still fox"})
        thread = await new_thread(fake)
        [image] = await stack.results_in(thread)
        parent = await stack.job_of(image)
        await fake.click(alice, image, labelled(image, "Animate"))
        _, clip = await stack.results_in(thread, count=2)

    assert clip.attachments[0].content_type == "video/mp4"
    assert f"animation of image 1 of `{parent.id}`" in clip.content
    assert len(fake.threads_of(fake.general)) == 1
