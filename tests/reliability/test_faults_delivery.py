"""Fault matrix, chat side: the platform refusing the channel (403/404) marks the job
undeliverable after one attempt and tells the requester privately; transient failures
are retried a bounded number of times, never in a storm."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.chat import DeliveryError
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.support.counting_chat import CountingChat
from tests.support.harness import fast_bot_config, invocation, open_harness

GENERATE_ROUTE = "POST /api/generation/image"


@pytest.mark.parametrize(
    "refusal",
    [
        "Missing Access: invite me to #general first (403)",
        "Unknown Channel: the thread was deleted (404)",
    ],
)
async def test_a_channel_the_platform_refuses_is_one_attempt_and_a_private_note(
    emulator: Emulator, tmp_path: Path, refusal: str
) -> None:
    chat = CountingChat(refuse_posts=DeliveryError(refusal, permanent=True))
    async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("an unwelcome fox")) or "")

        assert job is not None and job.state is JobState.UNDELIVERABLE
        assert job.error == refusal
        assert dict(chat.post_attempts) == {f"{job.id}:0": 1}  # no retry storm
        [note] = chat.notes
        assert note.user_id == "U1" and job.id in note.text and refusal in note.text
        assert chat.texts == [] and chat.images == []
        assert await h.store.unfinished_jobs() == []  # not resumed at the next start
        assert emulator.counters.requests[GENERATE_ROUTE] == 1


async def test_a_platform_failing_transiently_is_retried_a_bounded_number_of_times(
    emulator: Emulator, tmp_path: Path
) -> None:
    chat = CountingChat(refuse_posts=DeliveryError("502 Bad Gateway", permanent=False))
    config = fast_bot_config(delivery_attempts=3)
    async with open_harness(emulator, tmp_path / "bot.db", [chat], config=config) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox in traffic")) or "")

        assert job is not None and job.state is JobState.UNDELIVERABLE
        assert dict(chat.post_attempts) == {f"{job.id}:0": 3}
        [note] = chat.notes
        assert job.id in note.text and "502 Bad Gateway" in note.text
