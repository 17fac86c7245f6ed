"""When a watched job is polled (``bot.backend.polling.PollSchedule``), on a clock the test
moves: the decisions alone, at production scale, with no time passing."""

from __future__ import annotations

import itertools
import random
from dataclasses import replace

import pytest

from bot.backend.polling import PollSchedule
from bot.backend.timings import ServiceTimings

TIMINGS = ServiceTimings(
    expected_generation_time=30.0,
    poll_interval_min=1.0,
    poll_interval_cap=15.0,
    safety_net_poll=60.0,
    safety_net_rate=20.0,
    max_poll_rate=1000.0,
    reconcile_spread=5.0,
)
TIGHT = 1.5
"""``max(poll_interval_min, expected_generation_time / 20)``."""
START = 1000.0


def poll_times(
    schedule: PollSchedule,
    timings: ServiceTimings,
    *,
    until: float,
    covered: bool = False,
    watched: int = 1,
    seed: int = 1,
) -> list[float]:
    """When ``run_polls`` would poll ``schedule`` up to ``until`` if every answer were
    "not done yet": the clock jumps from one due time to the next."""
    rng = random.Random(seed)
    now = schedule.started
    times: list[float] = []
    while (at := schedule.due(timings, covered=covered, watched=watched)) <= until:
        now = max(now, at)
        schedule.begin_poll()
        schedule.succeeded(now, rng)
        times.append(now)
    return times


def gaps(times: list[float]) -> list[tuple[float, float]]:
    """(poll time, time to the next poll) of each poll but the last."""
    return [(t, later - t) for t, later in itertools.pairwise(times)]


def test_no_poll_comes_before_the_expected_generation_time() -> None:
    schedule = PollSchedule(started=START)

    assert schedule.due(TIMINGS, covered=False, watched=1) == START + 30.0
    assert poll_times(schedule, TIMINGS, until=START + 30.0) == [START + 30.0]


def test_polls_are_tight_near_the_expected_time_then_back_off_to_the_cap() -> None:
    times = poll_times(PollSchedule(started=START), TIMINGS, until=START + 900.0)
    spacing = gaps(times)
    near = [gap for t, gap in spacing if t < START + 45.0]  # until 1.5 x the expected time
    late = [gap for t, gap in spacing if t >= START + 45.0 + 2 * 15.0]  # overdue / 2 > cap

    assert times[0] == START + 30.0
    assert len(near) >= 8
    assert all(0.8 * TIGHT <= gap <= 1.2 * TIGHT for gap in near)
    assert len(late) >= 40
    assert all(0.8 * 15.0 <= gap <= 1.2 * 15.0 for gap in late)
    assert all(0.8 * TIGHT <= gap <= 1.2 * 15.0 for _, gap in spacing)  # jitter is +-20 %


@pytest.mark.parametrize(
    ("last_poll", "interval"),
    [
        pytest.param(40.0, TIGHT, id="not-yet-overdue"),
        pytest.param(46.0, TIGHT, id="half-the-overdue-time-is-below-tight"),
        pytest.param(55.0, 5.0, id="overdue-10s"),
        pytest.param(65.0, 10.0, id="overdue-20s"),
        pytest.param(75.0, 15.0, id="overdue-30s-reaches-the-cap"),
        pytest.param(500.0, 15.0, id="capped"),
    ],
)
def test_an_overdue_job_is_polled_every_half_of_its_overdue_time_up_to_the_cap(
    last_poll: float, interval: float
) -> None:
    # started at 0: overdue from 1.5 x 30 s = 45 s on; jitter 1.0 until the first answer
    schedule = PollSchedule(started=0.0, polls_since_start=1, polls=1, last_poll=last_poll)

    assert schedule.due(TIMINGS, covered=False, watched=1) == last_poll + interval


def test_a_job_finishing_just_after_the_expected_time_is_seen_within_one_tight_interval() -> None:
    timings = replace(
        TIMINGS, expected_generation_time=0.6, poll_interval_min=0.01, poll_interval_cap=5.0
    )
    times = poll_times(PollSchedule(started=0.0), timings, until=1.0)

    for step in range(300):  # a completion at any moment from the expected time to 1.5 x
        finished = 0.6 + step * 0.001
        seen = next(t for t in times if t >= finished)
        assert seen - finished <= 0.6 / 20 * 1.2


def test_polls_are_never_closer_than_poll_interval_min() -> None:
    timings = replace(TIMINGS, expected_generation_time=10.0)  # 10 / 20 < poll_interval_min

    times = poll_times(PollSchedule(started=0.0), timings, until=60.0)

    assert all(gap >= 0.8 * timings.poll_interval_min for _, gap in gaps(times))


def test_polling_only_jobs_together_stay_under_max_poll_rate() -> None:
    schedule = PollSchedule(started=0.0, polls_since_start=1, polls=1, last_poll=31.0)

    assert schedule.due(TIMINGS, covered=False, watched=1) == 31.0 + TIGHT
    assert schedule.due(TIMINGS, covered=False, watched=10_000) == 31.0 + 10.0  # 1,000/s


def test_a_covered_job_is_polled_as_a_safety_net_stretched_by_the_total_rate_cap() -> None:
    schedule = PollSchedule(started=0.0, polls_since_start=1, polls=1, last_poll=31.0)
    assert schedule.due(TIMINGS, covered=True, watched=1) == 31.0 + 60.0
    assert schedule.due(TIMINGS, covered=True, watched=10_000) == 31.0 + 500.0  # 20/s in all

    many = PollSchedule(started=START, covered_from_start=True)
    times = poll_times(many, TIMINGS, until=START + 5000.0, covered=True, watched=10_000)
    assert times[0] == START + 500.0
    assert all(0.8 * 500.0 <= gap <= 1.2 * 500.0 for _, gap in gaps(times))


def test_a_job_covered_from_its_submission_skips_the_early_first_poll() -> None:
    covered = PollSchedule(started=START, covered_from_start=True)
    late = PollSchedule(started=START)  # subscribed after the submission: events were missed

    assert covered.due(TIMINGS, covered=True, watched=1) == START + 60.0
    assert covered.due(TIMINGS, covered=False, watched=1) == START + 30.0  # the socket fell
    assert late.due(TIMINGS, covered=True, watched=1) == START + 30.0


def test_an_event_makes_the_poll_due_at_once_and_a_reconnect_reconciles_within_the_spread() -> None:
    schedule = PollSchedule(started=START)
    rng = random.Random(3)

    schedule.request()
    assert schedule.wake.is_set()
    assert schedule.due(TIMINGS, covered=True, watched=1) == 0.0
    schedule.begin_poll()
    assert schedule.due(TIMINGS, covered=False, watched=1) == START + 30.0

    schedule.reconcile(START + 1.0, rng, TIMINGS.reconcile_spread)  # never polled: no loss
    assert schedule.due(TIMINGS, covered=False, watched=1) == START + 30.0

    schedule.succeeded(START + 30.0, rng)
    for reconnected in (START + 40.0, START + 41.0, START + 42.0):
        schedule.reconcile(reconnected, rng, TIMINGS.reconcile_spread)
        due = schedule.due(TIMINGS, covered=True, watched=1)
        assert reconnected <= due <= reconnected + TIMINGS.reconcile_spread


def test_failed_polls_back_off_from_the_floor_to_the_cap_and_an_answer_resets_them() -> None:
    schedule = PollSchedule(started=START)
    rng = random.Random(5)
    now = START + 30.0
    delays: list[float] = []
    for _ in range(12):
        delays.append(schedule.failed(now, rng, TIMINGS))
        assert schedule.due(TIMINGS, covered=True, watched=1) == now + delays[-1]
        now += delays[-1]

    assert delays[0] == TIMINGS.poll_interval_min
    for attempt, delay in enumerate(delays):
        assert TIMINGS.poll_interval_min <= delay <= min(15.0, 2.0**attempt)
    assert max(delays) > 15.0 / 2  # it grew towards the cap
    schedule.succeeded(now, rng)
    assert schedule.errors == 0
    assert schedule.due(TIMINGS, covered=True, watched=1) == now + 60.0 * schedule.jitter


def test_a_job_still_queued_is_timed_again_from_now() -> None:
    schedule = PollSchedule(started=START)
    schedule.succeeded(START + 30.0, random.Random(1))

    schedule.restart(START + 30.0)

    assert schedule.due(TIMINGS, covered=False, watched=1) == START + 60.0
