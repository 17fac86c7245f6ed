"""Adaptive status polling shared by the backends' hybrid watchers.

One ``PollSchedule`` per watched job, owned by that job's poll task (``run_polls``), so a
job never has two status requests in flight. When the next poll is due:

* a requested poll (an event said the job ended, or it is a resumed job) is due at once;
  a reconciliation poll (after a (re)connect) at its jittered time; after errors,
  full-jitter exponential backoff from ``poll_interval_min`` up to ``poll_interval_cap``;
* while a WebSocket covers the job: a safety-net poll every ``safety_net_poll`` seconds,
  stretched so that all of them together stay under ``safety_net_rate`` per second; a job
  covered from its submission skips the early first poll;
* otherwise the first poll comes ``expected_generation_time`` after the start (nothing can
  be done sooner), then tight polls (``max(poll_interval_min, expected/20)``) until 1.5 × the
  expected time, then an interval of half the time overdue, capped at ``poll_interval_cap``,
  with ±20 % jitter; all jobs together stay under ``max_poll_rate`` requests per second."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Final, Generic, Protocol, TypeVar

from bot.backend.backoff import floored_jitter

_OVERDUE_AFTER: Final = 1.5
"""Times the expected generation time after which a job counts as overdue."""
_TIGHT_SHARE: Final = 20

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class PollTimings(Protocol):
    @property
    def expected_generation_time(self) -> float: ...
    @property
    def poll_interval_min(self) -> float: ...
    @property
    def poll_interval_cap(self) -> float: ...
    @property
    def safety_net_poll(self) -> float: ...
    @property
    def safety_net_rate(self) -> float: ...
    @property
    def max_poll_rate(self) -> float: ...
    @property
    def reconcile_spread(self) -> float: ...


@dataclass(eq=False)
class PollSchedule:
    """When one watched job is polled next (times are the event loop's clock)."""

    started: float
    """When the work plausibly began (its submission, or later when it waited in a queue)."""
    covered_from_start: bool = False
    """Every event since the submission reaches us: the early first poll is not needed."""
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    polls: int = 0
    """Successful polls in all."""
    polls_since_start: int = 0
    """Successful polls since ``started`` was last set."""
    last_poll: float = 0.0
    jitter: float = 1.0
    errors: int = 0
    retry_at: float = 0.0
    poll_now: bool = False
    reconcile_at: float | None = None

    def due(self, timings: PollTimings, *, covered: bool, watched: int) -> float:
        """When the next poll is due; ``watched`` counts the jobs sharing the rate caps."""
        if self.poll_now:
            return 0.0
        if self.reconcile_at is not None:
            return self.reconcile_at
        if self.errors:
            return self.retry_at
        expected = timings.expected_generation_time
        if covered and (self.polls_since_start or self.covered_from_start):
            # Events arrive: polls are only a safety net, their total rate capped.
            interval = max(timings.safety_net_poll, watched / timings.safety_net_rate)
            return max(self.last_poll, self.started) + interval * self.jitter
        if self.polls_since_start == 0:
            return self.started + expected
        # Polling is the only signal: tight while completion is expected, then backing off
        # in proportion to how overdue the job is.
        tight = max(timings.poll_interval_min, expected / _TIGHT_SHARE)
        overdue = self.last_poll - (self.started + expected * _OVERDUE_AFTER)
        interval = min(timings.poll_interval_cap, max(tight, overdue / 2))
        interval = max(interval, watched / timings.max_poll_rate)  # protect the service
        return self.last_poll + interval * self.jitter

    def begin_poll(self) -> None:
        """A poll starts: the request or reconciliation that made it due is served."""
        self.poll_now = False
        self.reconcile_at = None

    def request(self) -> None:
        """Poll as soon as possible (an event said the job ended, or nobody knows)."""
        self.poll_now = True
        self.wake.set()

    def restart(self, now: float) -> None:
        """The work has not begun yet (it waits in a queue): time it from ``now``."""
        self.started = now
        self.polls_since_start = 0

    def succeeded(self, now: float, rng: random.Random) -> None:
        self.errors = 0
        self.polls += 1
        self.polls_since_start += 1
        self.last_poll = now
        self.jitter = rng.uniform(0.8, 1.2)

    def failed(self, now: float, rng: random.Random, timings: PollTimings) -> float:
        """Back off after a failed poll; return the delay."""
        self.errors += 1
        floor = timings.poll_interval_min
        delay = floored_jitter(
            rng, self.errors - 1, floor=floor, cap=max(timings.poll_interval_cap, floor)
        )
        self.retry_at = now + delay
        return delay

    def reconcile(self, now: float, rng: random.Random, spread: float) -> None:
        """Events may have been lost: poll an already-polled job once, within ``spread``."""
        if self.polls or self.errors:
            self.reconcile_at = now + rng.uniform(0.0, spread)
        self.wake.set()


async def run_polls(
    schedule: PollSchedule, due: Callable[[], float], poll: Callable[[], Awaitable[bool]]
) -> None:
    """Sleep until ``due()`` (or a wake-up), then ``poll()``; stop when it returns True."""
    loop = asyncio.get_running_loop()
    while True:
        now = loop.time()
        at = due()
        if at > now:
            schedule.wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(at - now):
                    await schedule.wake.wait()
            continue
        schedule.begin_poll()
        if await poll():
            return


class Recent(Generic[K, V]):
    """The latest ``limit`` entries of something (when jobs were submitted, which ended
    before anyone waited): bounded, older ones are forgotten."""

    def __init__(self, limit: int = 10_000) -> None:
        self._items: OrderedDict[K, V] = OrderedDict()
        self._limit = limit

    def add(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self._limit:
            self._items.popitem(last=False)

    def pop(self, key: K) -> V | None:
        return self._items.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._items
