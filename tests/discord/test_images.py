"""Images above Discord's upload limit are re-encoded to fit, never dropped."""

from __future__ import annotations

import io
import os
from pathlib import Path

from PIL import Image

from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import decode, discord_stack

MIB = 1024 * 1024


def noisy_png(width: int, height: int) -> bytes:
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


async def test_a_12_mib_result_is_reencoded_under_the_upload_limit(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    big = noisy_png(2048, 2048)
    assert len(big) > 12 * MIB
    emulator.config.image_override = big
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "static"})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [result] = await stack.results_in(thread)

        [attachment] = result.attachments
        assert len(attachment.data) <= fake.attachment_size_limit == 10 * MIB
        assert attachment.filename.endswith((".webp", ".jpg"))
        assert decode(attachment.data).size[0] > 0


async def test_the_limit_an_interaction_reports_is_remembered_for_the_channel(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    emulator.config.image_override = noisy_png(512, 512)  # ~770 KiB
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(
            alice, fake.general, {"prompt": "static"}, attachment_size_limit=200 * 1024
        )
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [result] = await stack.results_in(thread)

        assert len(result.attachments[0].data) <= 200 * 1024
        assert decode(result.attachments[0].data).size[0] > 0
