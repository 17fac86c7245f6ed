"""/imagine-settings: members with Manage Messages change a channel's defaults privately."""

from __future__ import annotations

from pathlib import Path

from emulator.superduper import Emulator
from tests.discord.fake import (
    MANAGE_MESSAGES,
    MEMBER_PERMISSIONS,
    FakeDiscord,
    FakeInteraction,
    FakeUser,
)
from tests.discord.support import decode, discord_stack

EPHEMERAL = 64
DEFERRED_CHANNEL_MESSAGE = 5
MODERATOR = MEMBER_PERMISSIONS | MANAGE_MESSAGES


async def _settings(
    fake: FakeDiscord, user: FakeUser, changes: str | None, *, permissions: int
) -> FakeInteraction:
    """Run ``/imagine-settings [changes]`` in #general and wait for the private answer."""
    options: dict[str, str | int] = {} if changes is None else {"changes": changes}
    asked = await fake.slash_command(
        user, fake.general, "imagine-settings", options, member_permissions=permissions
    )
    await fake.until(lambda: asked.original is not None)
    assert asked.callbacks == [{"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}]
    assert asked.original_flags == EPHEMERAL
    return asked


async def test_a_moderator_sets_the_size_and_the_next_image_has_it(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    mod, alice = fake.add_user("mod"), fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        saved = await _settings(fake, mod, "size=512x768 steps=12", permissions=MODERATOR)
        assert saved.original is not None and saved.original.startswith("Saved.")
        assert "size 512×768, steps 12" in saved.original
        assert fake.messages_in(fake.general) == []  # nothing public

        await fake.slash_imagine(alice, fake.general, {"prompt": "a tall lighthouse"})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [result] = await stack.results_in(thread)
        assert decode(result.attachments[0].data).size == (512, 768)
        assert (await stack.job_of(result)).params.steps == 12

        shown = await _settings(fake, mod, None, permissions=MODERATOR)
        assert shown.original is not None
        assert shown.original.startswith("Defaults in this channel: size 512×768, steps 12")


async def test_a_member_without_manage_messages_is_refused_and_nothing_changes(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    mod, alice = fake.add_user("mod"), fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        refused = await _settings(fake, alice, "size=512x768", permissions=MEMBER_PERMISSIONS)
        assert refused.original == "Only admins can see or change this channel's /imagine settings."

        shown = await _settings(fake, mod, None, permissions=MODERATOR)
        assert shown.original is not None
        assert "size 1024×1024" in shown.original and "(all bot defaults)" in shown.original
        assert fake.messages_in(fake.general) == []
