"""Where the safety net aims: how long generations take, learned from the events that do
arrive, and when a file still without its event becomes worth a status poll.

A file covered by the WebSocket normally ends with its completion event. If that event is
lost, nothing tells the bot; polling every covered file on a fixed interval (a sweep) pays
for thousands of polls to find a few lost events, and finds them late. Aiming instead: the
durations of the files whose event came (submission to event) form the distribution, and
a file without its event is polled when it is overdue against it — first once it has run
longer than ``AIM_QUANTILES[0]`` of the others, then once longer than all of them (the
slowest seen), then every ``tail`` seconds: the distribution's upper half, at least
``poll_interval_min`` and at most ``safety_net_poll``. Until ``MIN_SAMPLES`` durations are
known, ``expected_generation_time`` stands in: one aimed poll at 1.5 × it, then every
quarter of it. ``MIN_SAMPLES`` is large because the first durations of a burst are its
fastest (the slow ones have not finished yet): a distribution learned from 20 of them aims
too early and wastes polls.

The benchmark's mode (c) (a fifth of the events dropped) measures what this costs: status
requests per job and how late a lost event is found."""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import Final, Protocol

AIM_QUANTILES: Final = (0.66, 1.0)
MIN_SAMPLES: Final = 200
REMEMBERED: Final = 1000
"""Durations kept (the latest): the distribution follows the service as it changes."""
_PRIOR_AIM: Final = 1.5
_PRIOR_TAIL: Final = 0.25


class AimTimings(Protocol):
    @property
    def expected_generation_time(self) -> float: ...
    @property
    def poll_interval_min(self) -> float: ...
    @property
    def safety_net_poll(self) -> float: ...


@dataclass(slots=True)
class Durations:
    """The latest ``limit`` generation durations (seconds), sorted for quantiles."""

    limit: int = REMEMBERED
    _order: deque[float] = field(default_factory=deque)
    _sorted: list[float] = field(default_factory=list)

    def observe(self, seconds: float) -> None:
        if seconds < 0:
            return
        self._order.append(seconds)
        bisect.insort(self._sorted, seconds)
        if len(self._order) > self.limit:
            oldest = self._order.popleft()
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]

    def __len__(self) -> int:
        return len(self._sorted)

    def quantile(self, q: float) -> float:
        """The ``q`` quantile (nearest rank; 1.0 is the slowest kept). Needs one sample."""
        return self._sorted[min(len(self._sorted) - 1, max(0, round(q * (len(self._sorted) - 1))))]


def aims(durations: Durations, timings: AimTimings) -> tuple[tuple[float, ...], float]:
    """The aimed points (seconds after the start, in order) and the tail interval."""
    floor, ceiling = timings.poll_interval_min, max(timings.safety_net_poll, 0.0)
    if len(durations) < MIN_SAMPLES:
        expected = timings.expected_generation_time
        tail = expected * _PRIOR_TAIL
        return (expected * _PRIOR_AIM,), min(max(tail, floor), ceiling)
    points = tuple(durations.quantile(q) for q in AIM_QUANTILES)
    tail = durations.quantile(1.0) - durations.quantile(0.5)
    return points, min(max(tail, floor), ceiling)


def aimed_due(
    started: float, last_poll: float | None, done: int, durations: Durations, timings: AimTimings
) -> float:
    """When a covered file (started at ``started``, ``done`` aimed polls so far, the last at
    ``last_poll``) is due for its next safety-net poll."""
    points, tail = aims(durations, timings)
    gap = timings.poll_interval_min
    if done < len(points):
        at = started + points[done]
        return at if last_poll is None else max(at, last_poll + gap)
    return (last_poll if last_poll is not None else started + points[-1]) + tail
