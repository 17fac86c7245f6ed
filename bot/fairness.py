"""Slots for running jobs: at most N per user and M overall, the rest wait in FIFO order.

A waiting job whose user is at their limit does not block other users' jobs behind it.
The queue itself is persisted by the jobs' ``accepted`` state; this class only holds
the in-process order, rebuilt at startup from the store."""

from __future__ import annotations

import asyncio
from collections import Counter


class SlotScheduler:
    def __init__(self, *, per_user: int, overall: int) -> None:
        self._per_user = per_user
        self._overall = overall
        self._running: dict[str, str] = {}  # job id -> user
        self._per_user_running: Counter[str] = Counter()
        self._waiting: dict[str, tuple[str, asyncio.Future[None]]] = {}  # FIFO by insertion

    def occupy(self, job_id: str, user: str) -> None:
        """Count a job as running without waiting (a job resumed past the queue)."""
        if job_id not in self._running:
            self._running[job_id] = user
            self._per_user_running[user] += 1

    def enqueue(self, job_id: str, user: str) -> int | None:
        """Register a job; return its 1-based queue position, or None if it can run now."""
        if job_id in self._running:
            return None
        if job_id not in self._waiting:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._waiting[job_id] = (user, future)
            self._grant()
        return self.position(job_id)

    async def acquire(self, job_id: str) -> None:
        """Wait until the job (enqueued before) may run."""
        entry = self._waiting.get(job_id)
        if entry is None:
            return
        try:
            await entry[1]
        except asyncio.CancelledError:
            if self._waiting.pop(job_id, None) is None:
                self.release(job_id)  # granted just as we were cancelled
            raise

    def release(self, job_id: str) -> None:
        user = self._running.pop(job_id, None)
        if user is not None:
            self._per_user_running[user] -= 1
            if self._per_user_running[user] <= 0:
                del self._per_user_running[user]
        else:
            entry = self._waiting.pop(job_id, None)
            if entry is not None:
                entry[1].cancel()
        self._grant()

    def position(self, job_id: str) -> int | None:
        """1-based place among waiting jobs, or None when running / unknown."""
        for index, waiting_id in enumerate(self._waiting, start=1):
            if waiting_id == job_id:
                return index
        return None

    @property
    def running(self) -> int:
        return len(self._running)

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def _grant(self) -> None:
        for job_id, (user, future) in list(self._waiting.items()):
            if len(self._running) >= self._overall:
                return
            if self._per_user_running[user] >= self._per_user:
                continue
            del self._waiting[job_id]
            self._running[job_id] = user
            self._per_user_running[user] += 1
            if not future.done():
                future.set_result(None)
