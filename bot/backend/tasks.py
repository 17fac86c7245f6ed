"""The background tasks a watcher owns (sockets, polls, checks), stopped together at close."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Iterable
from typing import Any

from bot.backend.errors import BackendUnavailable


class TaskSet:
    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[None]] = set()

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    async def close(self, waits: Iterable[asyncio.Future[Any]] = ()) -> None:
        """Cancel every task and wait for them; then each of ``waits`` still open raises
        ``BackendUnavailable`` ("the watcher was closed") to whoever awaits it."""
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for wait in waits:
            if not wait.done():
                wait.set_exception(BackendUnavailable("the watcher was closed"))
