"""Replicas sharing one store: the heartbeat that keeps this process's jobs, lets go of
the ones another replica took, and takes over the jobs of replicas that died.

Every ``interval`` seconds (a third of the lease, so two heartbeats may fail before a
job is lost):

1. renew the leases of the jobs held here;
2. stop the local run of a job no longer held here: another replica wrote it (a Cancel
   pressed there, which makes it that job's holder) or took it after this process
   stalled past its lease. Its writes would be refused anyway; stopping it also stops
   the waiting and keeps it from posting;
3. run a job held here that has no run (the holder of an unfenced write) once two
   heartbeats in a row found it so (a new job is held before its run starts);
4. claim the unfinished jobs whose holder's lease expired and resume them at their step
   — the same path as a restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import Protocol

from bot.jobs import Job
from bot.store import JobStore, QuarantinedJob, StoreError
from bot.telemetry import Telemetry

log = logging.getLogger(__name__)


class LeaseHolder(Protocol):
    """What the heartbeat needs of the supervisor."""

    def running_ids(self) -> frozenset[str]:
        """Jobs with a run in this process."""
        ...

    def stop(self, job_id: str) -> None:
        """End the local run of a job another process holds now."""
        ...

    async def resume(self, jobs: Iterable[Job]) -> None:
        """Run jobs at the step they reached (the same as at a start)."""
        ...

    def tell_quarantined(self, rows: Iterable[QuarantinedJob]) -> None:
        """Tell the requesters of unreadable rows (in the background)."""
        ...


class Heartbeat:
    def __init__(
        self, store: JobStore, holder: LeaseHolder, *, interval: float, telemetry: Telemetry
    ) -> None:
        self._store = store
        self._holder = holder
        self._interval = interval
        self._telemetry = telemetry
        self._idle: frozenset[str] = frozenset()  # held, not running, at the last beat
        self._ended: frozenset[str] = frozenset()  # running, ended elsewhere, last beat
        self.held = 0
        """Jobs held at the last heartbeat."""

    async def run_forever(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.beat()
            except StoreError as exc:
                log.warning("replica heartbeat failed (%s); trying again", exc)
            except Exception:  # a heartbeat that stopped would lose every job here
                log.exception("replica heartbeat failed unexpectedly; trying again")

    async def beat(self) -> None:
        """One round of renew, let go, run the idle, take over."""
        running = self._holder.running_ids()  # before the renew: their jobs are committed
        held = await self._store.renew_leases()
        self.held = len(held)
        await self._let_go(running - held)
        await self._run_idle(held)
        claimed = await self._store.claim_unfinished()
        if claimed.jobs:
            log.info("took over %d job(s) whose replica's lease expired", len(claimed.jobs))
            self._telemetry.taken_over(len(claimed.jobs))
            self.held += len(claimed.jobs)
            await self._holder.resume(claimed.jobs)
        self._holder.tell_quarantined(claimed.quarantined)

    async def _let_go(self, not_held: frozenset[str]) -> None:
        ended: set[str] = set()
        for job_id in not_held:
            job = await self._store.get_job(job_id)
            finished = job is not None and job.state.terminal and job.notified
            if finished and job_id not in self._ended:
                ended.add(job_id)  # maybe this run's own last steps: give it a beat
                continue
            log.info("job %s is held by another replica now; its run here stops", job_id)
            self._holder.stop(job_id)
        self._ended = frozenset(ended)

    async def _run_idle(self, held: frozenset[str]) -> None:
        idle = held - self._holder.running_ids()
        again = idle & self._idle
        self._idle = idle - again
        jobs: list[Job] = []
        for job_id in sorted(again):
            job = await self._store.get_job(job_id)
            if job is not None and not job.state.terminal:
                jobs.append(job)
        if jobs:
            log.info("resuming %d job(s) held here without a run", len(jobs))
            await self._holder.resume(jobs)
