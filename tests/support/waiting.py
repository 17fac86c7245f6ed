"""Deadline-bounded waits on state that changes without notifying anyone (a store, counters)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from bot.jobs import Job, JobState
from bot.store import JobStore


async def until(condition: Callable[[], bool], *, timeout: float = 10.0) -> None:
    """Check ``condition()`` every few milliseconds until it holds; fail after ``timeout``."""
    async with asyncio.timeout(timeout):
        while True:
            if condition():
                return
            await asyncio.sleep(0.005)


async def job_in_state(
    store: JobStore, job_id: str, *states: JobState, timeout: float = 10.0
) -> Job:
    """Poll the store until the job is in one of ``states``; return it."""
    async with asyncio.timeout(timeout):
        while True:
            job = await store.get_job(job_id)
            if job is not None and job.state in states:
                return job
            await asyncio.sleep(0.01)
