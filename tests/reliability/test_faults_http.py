"""Fault matrix, HTTP side, seen from the thread: rate limits, 5xx, read timeouts and a
service that lost its memory end in the image or a clear reason — never a hang.

How long the bot waited as told is what it asked its (recording) sleep for, with the wall
clock that ``Retry-After`` dates are read against fixed: no test here is timed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from email.utils import format_datetime
from pathlib import Path

import pytest

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.backend.helpers import RecordingSleep
from tests.support.harness import fast_bot_config, fast_service, invocation, open_harness
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import file_ids, project_of
from tests.support.waiting import job_in_state, until

FILE_ROUTE = "GET /api/files/{id}"
PROJECTS_ROUTE = "POST /api/projects"


NOW = 1_800_000_000.0
"""The bot's wall clock in these tests (a whole second, as HTTP-dates are)."""


def fixed_clock() -> float:
    return NOW


def http_date(seconds_from_now: float) -> str:
    return format_datetime(datetime.fromtimestamp(NOW + seconds_from_now, UTC), usegmt=True)


@pytest.mark.parametrize(
    ("retry_after", "waited"),
    [
        pytest.param("1", 1.0, id="seconds"),
        pytest.param("2.5", 2.5, id="fractional-seconds"),
        pytest.param(http_date(2), 2.0, id="http-date"),
        pytest.param(http_date(-30), 0.0, id="past-http-date-means-now"),
        pytest.param("-5", 0.0, id="negative-means-now"),
        pytest.param("86400", 30.0, id="huge-is-capped"),
    ],
)
async def test_a_rate_limited_service_is_waited_for_as_told_then_explained(
    emulator: Emulator, tmp_path: Path, retry_after: str, waited: float
) -> None:
    emulator.config.http_429_rate = 1.0
    emulator.config.retry_after = retry_after
    chat = RecordingChat()
    pauses = RecordingSleep()
    service = fast_service(emulator, retry_attempts=2, retry_after_cap=30.0)
    db = tmp_path / "bot.db"
    async with open_harness(
        emulator, db, [chat], service=service, sleep=pauses, wall_clock=fixed_clock
    ) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a patient fox")) or "")

        assert job is not None and job.state is JobState.FAILED
        assert pauses.delays == [waited]  # one wait, exactly as told (capped)
        assert emulator.counters.requests[PROJECTS_ROUTE] == 2  # one wait, one retry
        [(where, text)] = chat.texts
        assert where == chat.threads[0].conversation
        assert job.id in text and "not answering right now" in text


async def test_a_rate_limit_burst_that_ends_still_delivers_the_image(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.http_429_rate = 1.0
    emulator.config.retry_after = "1"
    chat = RecordingChat()
    # the burst ends during the 1 s wait
    pauses = RecordingSleep(lambda n: setattr(emulator.config, "http_429_rate", 0.0))
    async with open_harness(emulator, tmp_path / "bot.db", [chat], sleep=pauses) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox in a queue")) or "")

        assert job is not None and job.state is JobState.POSTED
        assert pauses.delays == [1.0]  # the retry came after the wait it was told
        assert emulator.counters.requests[PROJECTS_ROUTE] == 2
        assert len(chat.images) == 1 and chat.texts == []


@pytest.mark.parametrize("fault", ["5xx", "read-timeout"])
async def test_status_requests_failing_for_a_while_do_not_cost_the_image(
    emulator: Emulator, tmp_path: Path, fault: str
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    service = fast_service(emulator, request_timeout=0.3)
    async with open_harness(emulator, tmp_path / "bot.db", [chat], service=service) as h:
        job_id = await h.bot.imagine(invocation("a fox in a storm"))
        assert job_id is not None
        job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
        before = emulator.counters.requests[FILE_ROUTE]
        if fault == "5xx":
            emulator.config.http_5xx_rate = 1.0
        else:
            emulator.config.response_delay = 1.0  # every answer comes after the 0.3 s timeout
        await emulator.finish(file_ids(job)[0])
        await until(lambda: emulator.counters.requests[FILE_ROUTE] >= before + 6)
        assert chat.images == []
        emulator.config.http_5xx_rate = 0.0
        emulator.config.response_delay = 0.0

        final = await h.bot.wait_for(job_id)
        assert final is not None and final.state is JobState.POSTED
        assert len(chat.images) == 1 and chat.texts == []


async def test_a_service_that_never_answers_ends_in_a_timeout_message_not_a_hang(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    config = fast_bot_config(job_timeout=1.5)
    async with open_harness(emulator, tmp_path / "bot.db", [chat], config=config) as h:
        job_id = await h.bot.imagine(invocation("a fox in the void"))
        await job_in_state(h.store, job_id or "", JobState.SUBMITTED)
        emulator.config.http_5xx_rate = 1.0
        async with asyncio.timeout(5):
            job = await h.bot.wait_for(job_id or "")

        assert job is not None and job.state is JobState.TIMED_OUT
        [(_, text)] = chat.texts
        assert job.id in text and "gave up" in text and "try /imagine again" in text
        assert "timed out" in chat.status[chat.threads[0].status_message_id][-1]


async def test_a_service_restart_that_lost_the_file_is_a_clear_failure_in_the_thread(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
        job_id = await h.bot.imagine(invocation("a fox the service forgot"))
        await job_in_state(h.store, job_id or "", JobState.SUBMITTED)
        await emulator.restart()  # projects, files and subscriptions are gone
        async with asyncio.timeout(5):  # not a hang
            job = await h.bot.wait_for(job_id or "")

        assert job is not None and job.state is JobState.FAILED
        [(where, text)] = chat.texts
        assert where == chat.threads[0].conversation
        assert job.id in text and "restarted and lost its state" in text

        # The channel's project went with it: the next command recreates it and works.
        emulator.config.manual_completion = False
        again = await h.bot.wait_for(await h.bot.imagine(invocation("a new fox")) or "")
        assert again is not None and again.state is JobState.POSTED
        assert project_of(again) != project_of(job)
        assert len(chat.images) == 1
