"""/imagine-history, /imagine-show and /animate: acknowledged at once like /imagine, then
answered by the core (privately, or with a result card where asked)."""

from __future__ import annotations

from pathlib import Path

from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import FakeSlack
from tests.slack.fakes.slack_side import slash_payload
from tests.slack.wiring import SlackBot, slack_bot


async def imagined(run: SlackBot, text: str) -> tuple[str, str]:
    """Run ``/imagine text`` to its result: (job id, status message ts)."""
    status, result = await run.imagined(text)
    return (await run.job_of(result)).id, status.ts


async def test_history_lists_my_jobs_with_links_to_their_threads(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        old, old_thread = await imagined(run, "an old fox")
        new, new_thread = await imagined(run, "a new fox")
        answer = await run.ask("", command="/imagine-history")
        nothing = await run.ask("", command="/imagine-history", user="U9")

    first, second = answer.splitlines()[1:]
    assert first.startswith(f"• `{new}` “a new fox” · posted")
    assert second.startswith(f"• `{old}` “an old fox” · posted")
    assert first.endswith(f"https://fake.slack.com/archives/C1/p{new_thread.replace('.', '')}")
    assert second.endswith(f"https://fake.slack.com/archives/C1/p{old_thread.replace('.', '')}")
    assert [c.params["message_ts"] for c in fake_slack.calls_to("chat.getPermalink")] == [
        new_thread,
        old_thread,
    ]
    assert nothing.startswith("You have no jobs here yet.")


async def test_show_posts_a_result_again_with_working_buttons(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        job_id, thread = await imagined(run, "a fox worth showing")
        ack = await run.side.slash(
            slash_payload(fake_slack, job_id, command="/imagine-show", channel="C2")
        )
        assert (ack.status, ack.text) == (200, "")
        await fake_slack.wait_for(
            lambda: any(m.metadata for m in fake_slack.messages if m.channel == "C2")
        )
        [image, card] = [m for m in fake_slack.messages if m.channel == "C2"]
        assert image.thread_ts is None and card.thread_ts is None  # in the channel itself
        original = run.images("C1", thread)[0]
        assert fake_slack.files[image.files[0]].data == fake_slack.files[original.files[0]].data
        assert job_id in card.action_ids[0]

        await run.press(card, "reroll", user="U2")
        await run.wait_results("C2", card.ts, 2)  # the re-roll starts a thread under the card
        await run.harness.bot.drain()
        unknown = await run.ask("nope99", command="/imagine-show")
    assert "I don't know a job `nope99`" in unknown


async def test_animate_posts_a_clip_in_its_thread_and_refuses_bad_flags_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        too_long = await run.ask("a fox running --seconds 30", command="/animate")
        assert await run.harness.store.unfinished_jobs() == [] and fake_slack.messages == []

        ack = await run.side.slash(
            slash_payload(fake_slack, "a fox running --seconds 3 --ar 16:9", command="/animate")
        )
        assert (ack.status, ack.text) == (200, "")
        status = await run.wait_status()
        [card] = await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()

    assert "from 2 to 8" in too_long
    assert "<@U1> is imagining “a fox running”" in status.text
    [clip] = run.images("C1", status.ts)
    stored = fake_slack.files[clip.files[0]]
    assert stored.name.endswith(".mp4") and stored.data is not None
    assert stored.data[4:8] == b"ftyp"  # an MP4 container
    assert "3 s clip" in clip.text
    assert [a.split(":")[1] for a in card.action_ids] == ["reroll", "delete"]
