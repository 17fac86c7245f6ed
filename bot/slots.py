"""Running slots, as the supervisor sees them: ``LocalSlots`` when this process runs every
job of its store (SQLite), ``SharedSlots`` when replicas share one (PostgreSQL).

Either way a user has at most ``per_user`` jobs running and everyone at most ``overall``;
the rest wait, a user's own jobs in the order they came. Locally the order is kept in
memory (rebuilt from the store at start); shared, the store decides every grant (its
``take_slot`` counts every replica's jobs), and one pump per process asks for its
waiting jobs when a local job ends and at least every ``poll_interval`` seconds (a job
ending on another replica frees its slot there). Across replicas the grants are FIFO per
user and roughly FIFO overall: a replica whose own job just ended asks first."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Protocol

from bot.fairness import SlotScheduler
from bot.jobs import ChannelKey, Job
from bot.store import JobStore, StoreError

log = logging.getLogger(__name__)


class Slots(Protocol):
    async def enqueue(self, job: Job) -> int | None:
        """Register a job for a slot: None when it may run now, else its 1-based place
        in the queue."""
        ...

    def occupy(self, job: Job) -> None:
        """Count a resumed job that is past the queue as running."""
        ...

    async def acquire(self, job: Job) -> bool:
        """Wait until the (enqueued) job holds a slot; True when it had to wait."""
        ...

    def release(self, job_id: str) -> None:
        """The job stopped here (ended, cancelled, or left for another process)."""
        ...

    @property
    def waiting(self) -> int:
        """Jobs of this process waiting for a slot."""
        ...

    @property
    def running(self) -> int:
        """Jobs of this process holding one."""
        ...

    async def aclose(self) -> None: ...


def slots_for(
    store: JobStore, *, per_user: int, overall: int, poll_interval: float
) -> LocalSlots | SharedSlots:
    """Shared slots when other processes may hold jobs in ``store``, else local ones."""
    if store.shared:
        return SharedSlots(store, per_user=per_user, overall=overall, poll_interval=poll_interval)
    return LocalSlots(per_user=per_user, overall=overall)


class LocalSlots:
    """The in-process scheduler behind the :class:`Slots` calls."""

    def __init__(self, *, per_user: int, overall: int) -> None:
        self._scheduler = SlotScheduler(per_user=per_user, overall=overall)

    async def enqueue(self, job: Job) -> int | None:
        return self._scheduler.enqueue(job.id, job.requester_id)

    def occupy(self, job: Job) -> None:
        self._scheduler.occupy(job.id, job.requester_id)

    async def acquire(self, job: Job) -> bool:
        if not self._scheduler.position(job.id):
            return False
        await self._scheduler.acquire(job.id)
        return True

    def release(self, job_id: str) -> None:
        self._scheduler.release(job_id)

    @property
    def waiting(self) -> int:
        return self._scheduler.waiting

    @property
    def running(self) -> int:
        return self._scheduler.running

    async def aclose(self) -> None:
        return None


class SharedSlots:
    """Slots granted by the store, for replicas sharing it."""

    def __init__(
        self, store: JobStore, *, per_user: int, overall: int, poll_interval: float
    ) -> None:
        self._store = store
        self._per_user = per_user
        self._overall = overall
        self._poll_interval = poll_interval
        self._waiting: dict[str, tuple[Job, asyncio.Future[None]]] = {}  # oldest first
        self._running: set[str] = set()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None

    async def enqueue(self, job: Job) -> int | None:
        if job.id in self._running:
            return None
        if job.id not in self._waiting:
            if not self._user_waits(job) and await self._take(job):
                self._running.add(job.id)
                return None
            self._waiting[job.id] = (job, asyncio.get_running_loop().create_future())
            self._start_pump()
        try:
            return await self._store.queue_position(job.id)
        except StoreError as exc:
            log.warning("job %s: could not read its place in the queue: %s", job.id, exc)
            return None  # shown as starting; it still waits for its slot

    def occupy(self, job: Job) -> None:
        self._running.add(job.id)

    async def acquire(self, job: Job) -> bool:
        entry = self._waiting.get(job.id)
        if entry is None:
            return False
        try:
            await entry[1]
        except asyncio.CancelledError:
            if self._waiting.pop(job.id, None) is None:
                self.release(job.id)  # granted just as we were cancelled
            raise
        return True

    def release(self, job_id: str) -> None:
        if job_id in self._running:
            self._running.discard(job_id)
            self._wake.set()
        entry = self._waiting.pop(job_id, None)
        if entry is not None:
            entry[1].cancel()

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def running(self) -> int:
        return len(self._running)

    async def aclose(self) -> None:
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await pump
        for _, future in self._waiting.values():
            future.cancel()
        self._waiting.clear()

    # -- the pump ------------------------------------------------------------------------

    def _start_pump(self) -> None:
        if self._pump is None or self._pump.done():
            self._pump = asyncio.create_task(self._pump_while_waiting(), name="slot-pump")

    async def _pump_while_waiting(self) -> None:
        while self._waiting:
            self._wake.clear()
            try:
                await self._grant_free_slots()
            except StoreError as exc:
                log.warning("asking for slots failed (%s); trying again", exc)
            with contextlib.suppress(TimeoutError):
                # Other replicas free slots without telling this one: look again soon.
                await asyncio.wait_for(self._wake.wait(), self._poll_interval)

    async def _grant_free_slots(self) -> None:
        """Ask for at most as many slots as are free, for each user's oldest waiting job
        (the store refuses a later one while an earlier one waits). Oldest as the store
        orders them, by creation: jobs of a burst are enqueued here in whatever order
        their intake finished, and asking for a later one first would be refused at every
        round while the user's oldest is never asked for."""
        free = self._overall - await self._store.slots_in_use()
        asked: set[tuple[str, str, str]] = set()
        oldest_first = sorted(self._waiting.items(), key=lambda item: item[1][0].created_at)
        for job_id, (job, future) in oldest_first:
            if free <= 0:
                return
            who = _requester(job)
            if who in asked or future.done():
                continue
            asked.add(who)
            if await self._take(job) and self._waiting.pop(job_id, None) is not None:
                self._running.add(job_id)
                future.set_result(None)
                free -= 1

    def _user_waits(self, job: Job) -> bool:
        who = _requester(job)
        return any(_requester(waiting) == who for waiting, _ in self._waiting.values())

    async def _take(self, job: Job) -> bool:
        try:
            return await self._store.take_slot(
                job.id,
                ChannelKey(job.platform, job.workspace, job.channel),
                job.requester_id,
                per_user=self._per_user,
                overall=self._overall,
            )
        except StoreError as exc:
            log.warning("job %s: asking for a slot failed (%s); it waits", job.id, exc)
            return False


def _requester(job: Job) -> tuple[str, str, str]:
    return (job.platform, job.workspace, job.requester_id)
