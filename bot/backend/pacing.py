"""A rate cap: at most ``rate`` events per second, with a burst of ``burst`` seconds' worth.

Pure (the caller passes the time), so a scheduler built on it is tested on a clock the test
moves. Over any window of ``w`` seconds at most ``rate × (w + burst)`` are taken."""

from __future__ import annotations

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
