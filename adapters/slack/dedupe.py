"""Remembers recent Events API ``event_id``s so a retried delivery runs once.

Slack retries an event (``X-Slack-Retry-Num``: 1, 2, 3 over about five minutes) when
it did not see our answer in time; Bolt does not filter retries itself."""

from __future__ import annotations

from collections import OrderedDict

from bot.clock import Clock


class RecentEvents:
    def __init__(self, clock: Clock, *, ttl: float = 15 * 60, capacity: int = 10_000) -> None:
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._seen: OrderedDict[str, float] = OrderedDict()

    def first_time(self, event_id: str) -> bool:
        """True the first time ``event_id`` is seen (within the TTL), False after."""
        now = self._clock.monotonic()
        while self._seen:
            oldest, seen_at = next(iter(self._seen.items()))
            if now - seen_at < self._ttl and len(self._seen) < self._capacity:
                break
            del self._seen[oldest]
        if event_id in self._seen:
            return False
        self._seen[event_id] = now
        return True
