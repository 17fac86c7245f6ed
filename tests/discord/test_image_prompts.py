"""Image prompts: ``/imagine``'s ``image`` option reaches the service as the reference, and
only files on Discord's own hosts are fetched (within the size limit)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image

from bot.chat import Attachment, DeliveryError
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import discord_stack, new_thread, private_answer
from tests.support.superduper import file_ids

MIB = 1024 * 1024


def red_png(width: int = 320, height: int = 240) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def test_an_attached_image_reaches_the_service_as_the_reference(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    red = fake.upload("red.png", red_png())
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_imagine(
            alice, fake.general, {"prompt": "a fox in this light --iw 1.6"}, files={"image": red}
        )
        thread = await new_thread(fake)
        [result] = await stack.results_in(thread)
        job = await stack.job_of(result)

    assert job.state is JobState.POSTED
    reference, weight = emulator.reference_of(file_ids(job)[0])
    assert reference == red.data and weight == 0.8  # --iw 1.6 of 2
    assert asked.original == f"Started — follow along in <#{thread.id}>."
    assert fake.file_requests and set(fake.file_requests) == {f"/attachments/{red.id}/red.png"}


async def test_an_image_on_another_host_is_refused_privately_and_starts_nothing(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    real = fake.upload("cat.png", red_png())
    # The same file, but said to live on another host (which is this fake under another name).
    elsewhere = fake.upload(
        "cat.png", real.data, url=fake.file_url(real).replace("127.0.0.1", "localhost")
    )
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        asked = await fake.slash_imagine(
            alice, fake.general, {"prompt": "a cat"}, files={"image": elsewhere}
        )
        answer = await private_answer(fake, asked)
        unfinished = await stack.harness.store.unfinished_jobs()

    assert "I couldn't use the image you attached (cat.png)" in answer
    assert "isn't a file uploaded to Discord" in answer
    assert fake.file_requests == []  # never fetched
    assert unfinished == [] and fake.messages_in(fake.general) == []
    assert emulator.counters.requests["POST /api/generation/image"] == 0


async def test_an_image_declared_over_the_limit_is_refused_before_fetching(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    huge = fake.upload("huge.png", red_png(), declared_size=30 * MIB)
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        asked = await fake.slash_imagine(
            alice, fake.general, {"prompt": "a big fox"}, files={"image": huge}
        )
        answer = await private_answer(fake, asked)

    assert "(huge.png): it's 30 MB and the most I take is 25 MB" in answer
    assert fake.file_requests == [] and fake.messages_in(fake.general) == []


async def test_fetching_stops_at_max_bytes_when_no_size_was_declared(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    upload = fake.upload("fox.png", red_png(640, 480))
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        port = stack.adapter.port
        whole = await port.fetch_attachment(Attachment(fake.file_url(upload)), len(upload.data))
        with pytest.raises(DeliveryError) as refused:
            await port.fetch_attachment(Attachment(fake.file_url(upload)), len(upload.data) - 1)

    assert whole == upload.data
    assert refused.value.permanent and "the most I take" in str(refused.value)
    assert fake.token not in str(refused.value)
