"""Re-roll and Delete under a result, also after the bot restarted on the same database."""

from __future__ import annotations

from pathlib import Path

from bot.jobs import Job, JobState
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import FakeSlack
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import eventually, slack_bot
from tests.support.harness import emulator_config
from tests.support.superduper import file_ids, result_url


async def test_reroll_posts_a_second_image_in_the_same_thread(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        status, first = await run.imagined("a fox --seed 1")
        await run.press(first, "reroll", user="U2")

        results = await run.wait_results("C1", status.ts, 2)
        await run.harness.bot.drain()
        images = run.images("C1", status.ts)
        assert len(images) == 2 and all(m.thread_ts == status.ts for m in images + results)
        first_file, second_file = (fake_slack.files[m.files[0]] for m in images)
        assert first_file.data != second_file.data  # a new seed, a new picture
        assert "seed 1 ·" in images[0].text and "seed 1 ·" not in images[1].text
        assert [m for m in fake_slack.messages if m.thread_ts is None] == [status]


async def test_delete_by_someone_else_is_refused_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        status, result = await run.imagined("a fox")
        await run.press(result, "delete", user="U2")

        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert (note.user, note.channel, note.thread_ts) == ("U2", "C1", status.ts)
        assert "Only <@U1>" in note.text
        assert len(run.images("C1", status.ts)) == 1 and run.results("C1", status.ts)
        assert len(fake_slack.live_files()) == 1


async def test_buttons_keep_working_after_a_restart(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    async with slack_bot(emulator, fake_slack, db) as run:
        status, result = await run.imagined("a fox")

    async with slack_bot(emulator, fake_slack, db) as restarted:
        await restarted.press(result, "delete", user="U2")
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        assert "Only <@U1>" in fake_slack.ephemerals[0].text

        await restarted.press(result, "reroll", user="U1")
        await restarted.wait_results("C1", status.ts, 2)
        await restarted.harness.bot.drain()

        await restarted.press(result, "delete", user="U1")
        await fake_slack.wait_for(lambda: len(restarted.results("C1", status.ts)) == 1)
        # the first result's caption, image and buttons are gone; the re-roll stays
        thread = fake_slack.thread("C1", status.ts)
        assert result not in thread
        [remaining] = restarted.images("C1", status.ts)
        assert [f.id for f in fake_slack.live_files()] == remaining.files
        assert len([m for m in thread if m.files or m.action_ids]) == 2


async def test_a_job_in_flight_during_a_restart_lands_in_its_thread(
    fake_slack: FakeSlack, tmp_path: Path
) -> None:
    db = tmp_path / "bot.db"
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        async with slack_bot(emulator, fake_slack, db) as run:
            await run.side.slash(slash_payload(fake_slack, "a fox across restarts"))
            status = await run.wait_status()
            [job_id] = [j.id for j in await run.harness.store.unfinished_jobs()]

            async def submitted() -> Job | None:
                job = await run.harness.store.get_job(job_id)
                return job if job is not None and file_ids(job) else None

            job = await eventually(submitted)

        async with slack_bot(emulator, fake_slack, db) as restarted:
            for file_id in file_ids(job):
                await emulator.finish(file_id)
            [result] = await restarted.wait_results("C1", status.ts, 1)
            final = await restarted.harness.bot.wait_for(job_id)
            assert final is not None and final.state is JobState.POSTED
            [image] = restarted.images("C1", status.ts)
            assert fake_slack.files[image.files[0]].data == await restarted.harness.image_bytes(
                result_url(final, 0)
            )
            assert job_id in result.action_ids[0]
