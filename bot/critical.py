"""Steps that must not be cut in half by a shutdown (posting a result and recording it).

``run`` shields the step: cancelling the job's task leaves the step running, and
``wait`` lets shutdown give the running steps a bounded grace period."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


class CriticalSections:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    async def run(self, step: Coroutine[Any, Any, T]) -> T:
        task = asyncio.ensure_future(step)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return await asyncio.shield(task)

    @property
    def running(self) -> int:
        return len(self._tasks)

    async def wait(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s for the running steps; True when none is left."""
        if self._tasks:
            await asyncio.wait(set(self._tasks), timeout=timeout)
        return not self._tasks
