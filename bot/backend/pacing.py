"""A rate cap: at most ``rate`` events per second, with a burst of ``burst`` seconds' worth.

Pure (the caller passes the time), so a scheduler built on it is tested on a clock the test
moves. Over any window of ``w`` seconds at most ``rate × (w + burst)`` are taken."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

_ONE = 1.0 - 1e-9
"""A token (refills are floating point: a token due at ``next_at`` may be a hair short)."""
DEFAULT_BURST = 0.1
"""Seconds' worth of tokens a quiet pacer saves up: a tenth of a second's polls at once."""


@dataclass(slots=True)
class Pacer:
    rate: float
    burst: float = DEFAULT_BURST
    _tokens: float = 0.0
    _at: float | None = None

    def __post_init__(self) -> None:
        if self.rate <= 0:
            raise ValueError("rate must be positive")
        self._tokens = max(self.rate * self.burst, 1.0)

    @property
    def capacity(self) -> float:
        return max(self.rate * self.burst, 1.0)

    def _refill(self, now: float) -> None:
        if self._at is not None and now > self._at:
            self._tokens = min(self.capacity, self._tokens + (now - self._at) * self.rate)
        if self._at is None or now > self._at:
            self._at = now

    def ready(self, now: float) -> bool:
        """A token can be taken at ``now``."""
        self._refill(now)
        return self._tokens >= _ONE

    def take(self, now: float) -> None:
        """Take one token (call ``ready`` first)."""
        self._refill(now)
        self._tokens -= 1.0

    def next_at(self, now: float) -> float:
        """When the next token is there (``now`` if it already is)."""
        self._refill(now)
        return now if self._tokens >= _ONE else now + (1.0 - self._tokens) / self.rate


class PacedLane:
    """The cap counted where requests leave: each one takes a token before it queues for an
    in-flight slot (``enter``), and at most ``size`` hold a token while they wait for theirs
    (``leave`` once the slot is had). Over any ``w`` seconds at most ``rate × w +
    capacity + size`` go out, so capacity and size share the ``burst`` a ``Pacer`` allows:
    as many as leave the bot at once as are handed out at once, however the slots drain."""

    def __init__(self, rate: float, *, max_size: int, burst: float = DEFAULT_BURST) -> None:
        allowance = rate * burst
        self.size = max(1, min(max_size, int(allowance / 2)))
        self._pacer = Pacer(rate, burst=max(allowance - self.size, 1.0) / rate)
        self._waiting = asyncio.Semaphore(self.size)
        self._turn = asyncio.Lock()
        """Only the first in line sleeps until the next token (the others wait their turn,
        in order): waking every waiter for every token costs more CPU than the polls."""

    @property
    def capacity(self) -> float:
        """Tokens its pacer saves up when quiet."""
        return self._pacer.capacity

    async def enter(self) -> None:
        await self._waiting.acquire()
        try:
            loop = asyncio.get_running_loop()
            async with self._turn:
                while True:
                    now = loop.time()
                    if self._pacer.ready(now):
                        self._pacer.take(now)
                        return
                    await asyncio.sleep(self._pacer.next_at(now) - now)
        except BaseException:
            self._waiting.release()
            raise

    def leave(self) -> None:
        self._waiting.release()
