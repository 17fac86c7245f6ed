"""/imagine through the real discord.py client, the fake Discord, the core and the emulator."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import decode, discord_stack, images_in
from tests.support.superduper import result_url

EPHEMERAL = 64
DEFERRED_CHANNEL_MESSAGE = 5


async def test_imagine_defers_then_posts_the_service_image_in_a_new_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_imagine(
            alice,
            fake.general,
            {"prompt": "a lighthouse at dusk", "aspect_ratio": "16:9", "seed": 7},
        )
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [result] = await stack.results_in(thread)

        # Deferred privately ("thinking"), then pointed at the thread.
        assert asked.callbacks[0] == {
            "type": DEFERRED_CHANNEL_MESSAGE,
            "data": {"flags": EPHEMERAL},
        }
        assert asked.original == f"Started — follow along in <#{thread.id}>."
        # The public status message heads the thread (a thread started from it has its id).
        [status] = fake.messages_in(fake.general)
        assert status.id == thread.id
        assert thread.auto_archive_duration == 1440
        assert "a lighthouse at dusk" in thread.name
        assert f"<@{alice.id}> is imagining “a lighthouse at dusk”" in status.content
        assert "done in" in status.content  # progress edits ended on the final state

        job = await stack.job_of(result)
        assert job.state is JobState.POSTED and job.thread == str(thread.id)
        [attachment] = result.attachments
        assert attachment.data == await stack.harness.image_bytes(result_url(job, 0))
        image = decode(attachment.data)
        assert image.width > image.height  # 16:9
        assert "seed 7" in result.content and job.id in result.content
        assert result.custom_ids() == [
            f"imagine:vary_subtle:{job.id}:0",
            f"imagine:vary_strong:{job.id}:0",
            f"imagine:upscale:{job.id}:0",
            f"imagine:animate:{job.id}:0",
            f"imagine:remix:{job.id}:0",
            f"imagine:reroll:{job.id}",
            f"imagine:delete:{job.id}",
        ]
        assert result.nonce is not None  # sent with enforce_nonce
        assert images_in(fake, fake.general) == []  # nothing through the channel itself


async def test_imagine_inside_a_thread_posts_status_and_result_in_that_thread(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    existing = fake.add_thread(fake.general, "ideas")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_imagine(alice, existing, {"prompt": "a red fox"})
        [result] = await stack.results_in(existing)

        assert fake.threads_of(fake.general) == [existing]  # no new thread
        assert fake.messages_in(fake.general) == []
        status, image = fake.messages_in(existing)
        assert "a red fox" in status.content and "done in" in status.content
        assert image is result and "a red fox" in result.content
        assert asked.original == f"Started — follow along in <#{existing.id}>."


async def test_bad_input_is_answered_privately_and_nothing_is_posted(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        asked = await fake.slash_imagine(alice, fake.general, {"prompt": "a fox --sead 3"})
        await fake.until(lambda: asked.original is not None)

        assert asked.original_flags == EPHEMERAL
        assert asked.original is not None and "--seed" in asked.original
        assert fake.messages_in(fake.general) == []


async def test_missing_permissions_get_a_clear_private_error(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    view_and_send = (1 << 10) | (1 << 11)  # View Channel, Send Messages only
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_imagine(
            alice, fake.general, {"prompt": "a fox"}, app_permissions=view_and_send
        )
        await fake.until(lambda: asked.original is not None)

        assert asked.original_flags == EPHEMERAL
        assert asked.original is not None
        for missing in ("Create Public Threads", "Send Messages in Threads", "Attach Files"):
            assert missing in asked.original
        assert "Send Messages," not in asked.original
        assert fake.messages_in(fake.general) == []
        assert await stack.harness.store.unfinished_jobs() == []
        assert sum(emulator.counters.requests.values()) == 0


async def test_a_rate_limited_post_is_retried_after_retry_after(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    post_here = rf"/channels/{fake.general.id}/messages"
    fake.rate_limit("POST", post_here, retry_after=0.3)
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox"})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        await stack.results_in(thread)

        limited, accepted = fake.requests_to("POST", post_here)
        assert (limited.status, accepted.status) == (429, 200)
        assert accepted.at - limited.at >= 0.3
        assert len(fake.messages_in(fake.general)) == 1  # one status message, not two
