"""Waiting for a shared watch: its result, with progress delivered while it lasts."""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Awaitable, Callable
from typing import Any, Generic, TypeGuard, TypeVar

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")


class Latest(Generic[T]):
    """The latest value of something that only moves forward (a progress), and a future
    that resolves at its next change."""

    def __init__(self, value: T) -> None:
        self.value = value
        self.version = 0
        self._changed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    @property
    def changed(self) -> asyncio.Future[None]:
        return self._changed

    def publish(self, value: T) -> None:
        self.value = value
        self.version += 1
        if not self._changed.done():
            self._changed.set_result(None)
        self._changed = asyncio.get_running_loop().create_future()


async def await_result(
    result: asyncio.Future[R],
    *,
    deadline: float,
    progress: Latest[T],
    on_progress: Callable[[T], Awaitable[None]] | None,
    what: str,
) -> R | None:
    """``result``'s value, or None once the loop clock passes ``deadline``. Every new
    ``progress`` value is handed to ``on_progress`` on the way (``what`` names the job in
    logs); a callback that fails or outlasts the deadline is logged, never raised."""
    loop = asyncio.get_running_loop()
    delivered = 0
    while not result.done():
        if on_progress is not None and progress.version > delivered:
            delivered = progress.version
            await _call_progress(on_progress, progress.value, what, deadline)
            continue
        remaining = deadline - loop.time()
        if remaining <= 0:
            return None
        signals: set[asyncio.Future[Any]] = {result}
        if on_progress is not None:
            signals.add(progress.changed)
        await asyncio.wait(signals, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
    return result.result()


async def _call_progress(
    callback: Callable[[T], Awaitable[None]], value: T, what: str, deadline: float
) -> None:
    try:
        async with asyncio.timeout_at(deadline):
            await callback(value)
    except asyncio.CancelledError:
        raise
    except Exception:  # TimeoutError included
        logger.exception("progress callback for %s failed", what)


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (bools excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
