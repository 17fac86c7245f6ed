"""Re-roll and Delete buttons: persistent, owner/moderator checked, alive after a restart."""

from __future__ import annotations

from pathlib import Path

from emulator.superduper import Emulator
from tests.discord.fake import MANAGE_MESSAGES, MEMBER_PERMISSIONS, FakeDiscord
from tests.discord.support import button, discord_stack, images_in
from tests.support.superduper import result_url

DEFERRED_UPDATE_MESSAGE = 6


async def test_reroll_posts_a_new_image_in_the_same_thread_with_a_new_seed(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox", "seed": 5})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [first] = await stack.results_in(thread)
        original = await stack.job_of(first)

        click = await fake.click(alice, first, f"imagine:reroll:{original.id}")
        first_again, second = await stack.results_in(thread, count=2)

        assert click.callback_types == [DEFERRED_UPDATE_MESSAGE]
        assert first_again.id == first.id
        rerolled = await stack.job_of(second)
        assert rerolled.parent_job_id == original.id and rerolled.id != original.id
        assert rerolled.params.prompt == "a fox" and rerolled.params.seed != 5
        assert second.attachments[0].data == await stack.harness.image_bytes(
            result_url(rerolled, 0)
        )
        assert len(fake.threads_of(fake.general)) == 1


async def test_delete_is_refused_to_others_and_allowed_to_moderators(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice, bob, mod = fake.add_user("alice"), fake.add_user("bob"), fake.add_user("mod")
    async with discord_stack(emulator, fake, tmp_path / "bot.db") as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox"})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [result] = await stack.results_in(thread)
        delete = button(result, "delete")

        refused = await fake.click(bob, result, delete)
        await fake.until(lambda: bool(refused.followups))
        [note] = refused.followups
        assert note["flags"] == 64 and f"Only <@{alice.id}>" in note["content"]
        assert images_in(fake, thread) == [result]

        await fake.click(
            mod, result, delete, member_permissions=MEMBER_PERMISSIONS | MANAGE_MESSAGES
        )
        await fake.until(lambda: result.deleted)
        assert images_in(fake, thread) == []


async def test_buttons_of_a_message_posted_before_a_restart_still_work(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    db = tmp_path / "bot.db"
    async with discord_stack(emulator, fake, db) as stack:
        await fake.slash_imagine(alice, fake.general, {"prompt": "a fox"})
        await fake.until(lambda: len(fake.threads_of(fake.general)) == 1)
        [thread] = fake.threads_of(fake.general)
        [old] = await stack.results_in(thread)
    reroll, delete = button(old, "reroll"), button(old, "delete")

    # A new process: new discord.py client, new core, same SQLite file.
    async with discord_stack(emulator, fake, db) as stack:
        assert len(fake.identifies) == 2
        await fake.click(alice, old, reroll)
        old_again, fresh = await stack.results_in(thread, count=2)
        assert old_again.id == old.id
        assert (await stack.job_of(fresh)).parent_job_id == (await stack.job_of(old)).id

        await fake.click(alice, old, delete)
        await fake.until(lambda: old.deleted)
        assert images_in(fake, thread) == [fresh]
