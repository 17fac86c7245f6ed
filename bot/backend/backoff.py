"""Jittered exponential backoff and ``Retry-After`` parsing (pure functions, injected RNG)."""

from __future__ import annotations

import random
from datetime import UTC
from email.utils import parsedate_to_datetime


def full_jitter(rng: random.Random, attempt: int, *, base: float, cap: float) -> float:
    """A delay drawn uniformly from ``[0, min(cap, base * 2**attempt)]`` (attempt counts from 0)."""
    return rng.uniform(0.0, min(cap, base * 2.0 ** min(attempt, 60)))


def floored_jitter(rng: random.Random, attempt: int, *, floor: float, cap: float) -> float:
    """Never below ``floor``: uniform in ``[floor, min(cap, floor * 2**attempt)]``."""
    high = max(floor, min(cap, floor * 2.0 ** min(attempt, 60)))
    return rng.uniform(floor, high)


def parse_retry_after(value: str | None, *, now: float, cap: float) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``now`` is the wall clock (epoch seconds). Negative or past values give 0; values above
    ``cap`` give ``cap``; an unparsable header gives ``None``."""
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    seconds: float
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
        if when.tzinfo is None:  # "-0000" parses naive; HTTP-dates are always GMT
            when = when.replace(tzinfo=UTC)
        seconds = when.timestamp() - now
    if seconds != seconds:  # NaN
        return None
    return min(max(seconds, 0.0), cap)
