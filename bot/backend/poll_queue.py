"""Which of a watcher's files are polled when, and the rate caps over all of them.

Every poll that no event asked for goes through here: timed polls (the polling-only
schedule of ``polling.py``, retries after errors, reconciliation after a (re)connect, a
resumed file's first look) wait in one heap by due time; covered files wait for the aimed
safety net (``aim.py``) in first-in-first-out lanes, one per aimed poll already made, whose
heads are due against the distribution as it is *now* (it changes with every event, so an
aim is never computed ahead of time). Everything taken spends a token of ``total``
(``max_poll_rate``); safety-net polls also one of ``safety``. A poll confirming an event is
not capped: there is one per completion, as fast as the service completes files.

Pure, the time passed in: a watcher's one pump task calls ``take_due(now)`` and sleeps until
``next_at(now)`` or until something new is queued."""

from __future__ import annotations

import heapq
import itertools
from collections import deque
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from bot.backend.aim import AIM_QUANTILES, AimTimings, Durations, aimed_due
from bot.backend.pacing import Pacer

K = TypeVar("K")
LANES: Final = len(AIM_QUANTILES) + 1
"""One lane per aimed point, then the tail (every ``tail`` seconds)."""
_COMPACT_AT: Final = 1024


@dataclass(eq=False, slots=True)
class Ticket(Generic[K]):
    """A queued poll of ``key``; ``cancel`` it to take it back (it is dropped lazily)."""

    key: K
    aimed: bool
    at: float = 0.0
    """A timed poll's due time."""
    started: float = 0.0
    last_poll: float | None = None
    done: int = 0
    """Aimed polls made (which lane)."""
    live: bool = True


class PollQueue(Generic[K]):
    def __init__(self, timings: AimTimings, *, total: Pacer, safety: Pacer) -> None:
        self._timings = timings
        self._total = total
        self._safety = safety
        self.durations = Durations()
        self._heap: list[tuple[float, int, Ticket[K]]] = []
        self._lanes: tuple[deque[Ticket[K]], ...] = tuple(deque() for _ in range(LANES))
        self._order = itertools.count()
        self._dead = 0

    def at(self, key: K, when: float) -> Ticket[K]:
        """A timed poll of ``key`` due at ``when``."""
        ticket: Ticket[K] = Ticket(key, aimed=False, at=when)
        heapq.heappush(self._heap, (when, next(self._order), ticket))
        return ticket

    def aim(self, key: K, *, started: float, last_poll: float | None, done: int) -> Ticket[K]:
        """A safety-net poll of ``key``, due when it is overdue (``aim.aimed_due``)."""
        ticket: Ticket[K] = Ticket(key, True, started=started, last_poll=last_poll, done=done)
        self._lanes[min(done, LANES - 1)].append(ticket)
        return ticket

    def cancel(self, ticket: Ticket[K] | None) -> None:
        if ticket is not None and ticket.live:
            ticket.live = False
            self._dead += 1
            if self._dead >= _COMPACT_AT and self._dead > self.queued:
                self._compact()

    @property
    def queued(self) -> int:
        """Polls queued (cancelled ones not yet dropped included)."""
        return len(self._heap) + sum(len(lane) for lane in self._lanes)

    def due_of(self, ticket: Ticket[K]) -> float:
        if not ticket.aimed:
            return ticket.at
        return aimed_due(
            ticket.started, ticket.last_poll, ticket.done, self.durations, self._timings
        )

    def take_due(self, now: float) -> list[Ticket[K]]:
        """The polls due at ``now`` that the caps allow, earliest first; they leave the queue."""
        taken: list[Ticket[K]] = []
        while True:
            timed = self._timed_head()
            lane = self._lane_head()
            candidates = []
            if timed is not None and timed[0] <= now and self._total.ready(now):
                candidates.append(timed)
            both = self._total.ready(now) and self._safety.ready(now)
            if lane is not None and lane[0] <= now and both:
                candidates.append(lane)
            if not candidates:
                return taken
            _, ticket = min(candidates, key=lambda c: c[0])
            self._total.take(now)
            if ticket.aimed:
                self._safety.take(now)
                self._lanes[min(ticket.done, LANES - 1)].popleft()
            else:
                heapq.heappop(self._heap)
            ticket.live = False
            taken.append(ticket)

    def next_at(self, now: float) -> float | None:
        """When ``take_due`` may next return something (None: nothing is queued)."""
        times = []
        timed = self._timed_head()
        if timed is not None:
            times.append(max(timed[0], self._total.next_at(now)))
        lane = self._lane_head()
        if lane is not None:
            times.append(max(lane[0], self._total.next_at(now), self._safety.next_at(now)))
        return min(times) if times else None

    def _timed_head(self) -> tuple[float, Ticket[K]] | None:
        while self._heap and not self._heap[0][2].live:
            heapq.heappop(self._heap)
            self._dead -= 1
        return (self._heap[0][0], self._heap[0][2]) if self._heap else None

    def _lane_head(self) -> tuple[float, Ticket[K]] | None:
        best: tuple[float, Ticket[K]] | None = None
        for lane in self._lanes:
            while lane and not lane[0].live:
                lane.popleft()
                self._dead -= 1
            if lane:
                due = self.due_of(lane[0])
                if best is None or due < best[0]:
                    best = (due, lane[0])
        return best

    def _compact(self) -> None:
        self._heap = [entry for entry in self._heap if entry[2].live]
        heapq.heapify(self._heap)
        for lane in self._lanes:
            live = [t for t in lane if t.live]
            lane.clear()
            lane.extend(live)
        self._dead = 0
