"""The aimed safety net and the rate caps (``bot/backend/poll_queue.py``, ``aim.py``,
``pacing.py``), on a clock the test moves: which files are polled when, and how many per
second at most, at production scale, with no time passing."""

from __future__ import annotations

import math
from collections import Counter

from bot.backend.aim import MIN_SAMPLES, Durations, aimed_due, aims
from bot.backend.pacing import Pacer
from bot.backend.poll_queue import PollQueue, Ticket
from bot.backend.timings import ServiceTimings

TIMINGS = ServiceTimings(expected_generation_time=30.0, poll_interval_min=1.0, safety_net_poll=60.0)
STEP = 0.01


def queue(*, total: float = 1000.0, safety: float = 200.0) -> PollQueue[int]:
    return PollQueue(TIMINGS, total=Pacer(total), safety=Pacer(safety))


def learned(q: PollQueue[int], low: float = 30.0, high: float = 40.0) -> None:
    """Durations spread evenly over ``low``..``high`` (as from a run's completion events)."""
    for i in range(MIN_SAMPLES):
        q.durations.observe(low + (high - low) * i / (MIN_SAMPLES - 1))


def run(q: PollQueue[int], until: float, start: float = 0.0) -> list[tuple[float, Ticket[int]]]:
    """Every poll ``take_due`` hands out up to ``until``, the clock moving in small steps
    (and jumping to ``next_at`` when nothing is due sooner)."""
    taken: list[tuple[float, Ticket[int]]] = []
    now = start
    while now <= until:
        taken += [(now, t) for t in q.take_due(now)]
        at = q.next_at(now)
        if at is None:
            break
        now = max(now + STEP, at) if at > now else now + STEP
    return taken


def per_second(times: list[float]) -> Counter[int]:
    return Counter(math.floor(t) for t in times)


def test_without_learned_durations_a_covered_file_is_polled_at_1_5x_the_expected_time() -> None:
    q = queue()
    q.aim(1, started=100.0, last_poll=None, done=0)

    [(at, ticket)] = run(q, until=150.0, start=100.0)

    assert ticket.key == 1 and ticket.aimed
    assert math.isclose(at, 145.0, abs_tol=STEP)


def test_a_covered_file_is_polled_once_overdue_against_the_learned_durations() -> None:
    q = queue()
    learned(q)  # 30..40 s
    points, tail = aims(q.durations, TIMINGS)
    q.aim(1, started=0.0, last_poll=None, done=0)

    [(first, ticket)] = run(q, until=39.0)

    assert math.isclose(first, points[0], abs_tol=STEP)  # the 66th percentile: ~36.6 s
    assert 36.0 <= first <= 37.0
    # Not done: next when it has run longer than all the others, then every tail.
    second = aimed_due(0.0, first, 1, q.durations, TIMINGS)
    third = aimed_due(0.0, second, 2, q.durations, TIMINGS)
    assert math.isclose(second, 40.0)
    assert math.isclose(third - second, tail) and math.isclose(tail, 5.0, abs_tol=0.1)
    assert ticket.key == 1


def test_files_are_aimed_with_the_distribution_as_it_is_when_they_are_due() -> None:
    """An aim is not fixed when the file is queued: durations learned later move it."""
    q = queue()
    q.aim(1, started=0.0, last_poll=None, done=0)
    assert math.isclose(q.next_at(0.0) or 0.0, 45.0)  # the prior

    learned(q, 10.0, 12.0)

    assert run(q, until=12.0)[0][0] <= 11.5  # overdue against 10-12 s now


def test_the_safety_net_aims_instead_of_sweeping() -> None:
    """1,000 covered files, none finished early: nothing is polled before they are overdue,
    and each is polled once per aimed point (not on a fixed interval)."""
    q = queue()
    learned(q)
    for i in range(1000):
        q.aim(i, started=i * 0.003, last_poll=None, done=0)

    taken = run(q, until=36.0)
    assert taken == []  # none is overdue yet (the 66th percentile is ~36.6 s)

    taken = run(q, until=60.0, start=36.0)
    assert len(taken) == 1000
    assert {t.key for _, t in taken} == set(range(1000))


def test_every_poll_without_an_event_stays_under_the_total_cap() -> None:
    """10,000 files due at once (a reconcile pass, a restart): at most ``max_poll_rate`` a
    second (plus the pacer's burst)."""
    q = queue(total=1000.0)
    for i in range(10_000):
        q.at(i, 5.0)

    taken = run(q, until=30.0)

    assert len(taken) == 10_000
    counts = per_second([at for at, _ in taken])
    assert max(counts.values()) <= 1000 * 1.1 + 1
    assert taken[-1][0] >= 5.0 + (10_000 - 101) / 1000  # it took the time the cap implies


def test_safety_net_polls_also_stay_under_their_own_cap() -> None:
    q = queue(total=1000.0, safety=50.0)
    learned(q)
    for i in range(500):
        q.aim(i, started=0.0, last_poll=None, done=0)
    q.at(10_000, 40.0)  # a timed poll is not held up by the safety net's cap

    taken = run(q, until=60.0)

    counts = per_second([at for at, t in taken if t.aimed])
    assert max(counts.values()) <= 50 * 1.1 + 1
    timed = [at for at, t in taken if not t.aimed]
    assert timed and timed[0] < 40.0 + 0.1


def test_a_cancelled_poll_is_never_handed_out() -> None:
    q = queue()
    kept = q.at(1, 1.0)
    dropped = q.at(2, 1.0)
    q.cancel(dropped)

    assert [t.key for _, t in run(q, until=2.0)] == [1]
    assert kept.key == 1


def test_durations_keep_the_latest_and_their_quantiles() -> None:
    durations = Durations(limit=5)
    for seconds in (1.0, 2.0, 3.0, 4.0, 5.0, 10.0, 11.0):
        durations.observe(seconds)

    assert len(durations) == 5
    assert durations.quantile(0.0) == 3.0 and durations.quantile(1.0) == 11.0
    assert durations.quantile(0.5) == 5.0


def test_a_pacer_never_exceeds_its_rate_over_any_window() -> None:
    pacer = Pacer(rate=100.0)
    taken = []
    now = 0.0
    while now < 10.0:
        while pacer.ready(now):
            pacer.take(now)
            taken.append(now)
        now = max(pacer.next_at(now), now + 0.001)

    for start in (0.0, 2.5, 7.25):
        window = [t for t in taken if start <= t < start + 1.0]
        assert len(window) <= 100 * (1.0 + pacer.burst) + 1
    assert len(taken) >= 990
