"""Runs jobs in the background: one task per job (never two), fair slots, resume at start,
a bounded drain at shutdown, and every failure reported to the requester.

Start-up resumes every unfinished job *before* the adapters accept commands; a resumed
job waits until its platform's port is registered, then continues at its step. A row the
store cannot read is quarantined and its requester told when possible. On a store that
replicas share, a heartbeat (``bot/leases.py``) keeps this process's jobs and takes
over those of replicas that died."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Iterable
from typing import Any

from bot import messages
from bot.chat import ChatPort, Conversation, DeliveryError, Invocation, Requester
from bot.clock import Clock
from bot.config import BotConfig
from bot.critical import CriticalSections
from bot.jobs import Job, JobState
from bot.leases import Heartbeat
from bot.logctx import current_job
from bot.runner import JobRunner, status_actions
from bot.slots import slots_for
from bot.store import JobStore, QuarantinedJob, StaleJob, StoreError
from bot.telemetry import NullTelemetry, Telemetry

log = logging.getLogger(__name__)

PRUNE_EVERY = 24 * 3600.0
PORT_PATIENCE = 60.0
"""Seconds a resumed job waits for its platform before that is logged as an error."""


class UnknownPlatform(LookupError):
    pass


class JobSupervisor:
    def __init__(
        self,
        *,
        store: JobStore,
        runner: JobRunner,
        config: BotConfig,
        critical: CriticalSections,
        clock: Clock,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._clock = clock
        self._store = store
        self._runner = runner
        self._config = config
        self._critical = critical
        self._slots = slots_for(
            store,
            per_user=config.max_jobs_per_user,
            overall=config.max_running_jobs,
            poll_interval=config.slot_poll_interval,
        )
        self._heartbeat = (
            Heartbeat(
                store,
                self,
                interval=config.lease_renew_interval,
                telemetry=telemetry or NullTelemetry(),
            )
            if store.shared
            else None
        )
        self._chats: dict[str, ChatPort] = {}
        self._ready: dict[str, asyncio.Event] = {}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.closing = False

    # -- ports ---------------------------------------------------------------------------

    def add_chat(self, port: ChatPort) -> None:
        self._chats[port.platform] = port
        self._ready_event(port.platform).set()

    def chat_for(self, platform: str) -> ChatPort:
        try:
            return self._chats[platform]
        except KeyError:
            raise UnknownPlatform(f"no chat adapter registered for {platform!r}") from None

    def _ready_event(self, platform: str) -> asyncio.Event:
        return self._ready.setdefault(platform, asyncio.Event())

    # -- lifecycle -----------------------------------------------------------------------

    async def start(self) -> int:
        """Resume every unfinished job (and announce endings not yet told); return how
        many. Call before the adapters start accepting commands."""
        claimed = await self._store.claim_unfinished()
        await self.resume(claimed.jobs)
        self.tell_quarantined(claimed.quarantined)
        self._side(self._prune_forever(), name="prune-old-jobs")
        if self._heartbeat is not None:
            self._side(self._heartbeat.run_forever(), name="replica-heartbeat")
        if claimed.jobs:
            log.info("resuming %d unfinished job(s)", len(claimed.jobs))
        return len(claimed.jobs)

    async def resume(self, jobs: Iterable[Job]) -> None:
        """Run jobs at the step they reached: those past the queue take their slots
        first, then the queued ones line up, oldest first."""
        jobs = list(jobs)
        for job in jobs:
            if not job.state.terminal and job.state is not JobState.ACCEPTED:
                self._slots.occupy(job)
        for job in jobs:
            if job.state is JobState.ACCEPTED:
                await self._slots.enqueue(job)
            self.spawn(job)

    def tell_quarantined(self, rows: Iterable[QuarantinedJob]) -> None:
        for bad in rows:
            self._side(self._tell_quarantined(bad), name=f"quarantined-{bad.id}")

    async def aclose(self, grace: float | None = None) -> None:
        """Stop background work. A post that is under way may finish (up to ``grace`` s)
        so it is recorded; everything else stays in the store and resumes next start."""
        self.closing = True
        tasks = [*self._tasks.values(), *self._side_tasks]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._slots.aclose()
        limit = self._config.shutdown_grace if grace is None else grace
        if not await self._critical.wait(limit):
            log.warning(
                "shutdown: %d post(s) still under way after %.0f s", self._critical.running, limit
            )

    async def wait_for(self, job_id: str) -> Job | None:
        """Wait until the job's background run ends; return its final stored state."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})
        return await self._store.get_job(job_id)

    async def drain(self) -> None:
        """Wait until every job of this process has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    @property
    def pending(self) -> int:
        """Jobs running or queued in this process."""
        return len(self._tasks)

    @property
    def load(self) -> tuple[int, int]:
        """Jobs waiting for a slot, and jobs holding one, in this process."""
        return self._slots.waiting, self._slots.running

    @property
    def leases_held(self) -> int:
        """Unfinished jobs this replica held at its last heartbeat (0 unshared)."""
        return self._heartbeat.held if self._heartbeat is not None else 0

    def task_of(self, job_id: str) -> asyncio.Task[None] | None:
        return self._tasks.get(job_id)

    def running_ids(self) -> frozenset[str]:
        return frozenset(job_id for job_id, task in self._tasks.items() if not task.done())

    def stop(self, job_id: str) -> None:
        """End this process's run of a job (another replica holds it now)."""
        task = self._tasks.get(job_id)
        if task is not None:
            task.cancel()
        self._slots.release(job_id)

    # -- slots -------------------------------------------------------------------------

    async def enqueue(self, job: Job) -> int | None:
        """Register a new job for a slot; its queue position, or None if it can run now."""
        return await self._slots.enqueue(job)

    def release(self, job_id: str) -> None:
        self._slots.release(job_id)

    # -- running -----------------------------------------------------------------------

    def spawn(self, job: Job) -> None:
        """Run ``job`` in the background unless it already runs here (single flight)."""
        current = self._tasks.get(job.id)
        if current is not None and not current.done():
            log.info("job %s already runs in this process; not started twice", job.id)
            return
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda done: self._forget(job.id, done))

    def _forget(self, job_id: str, task: asyncio.Task[None]) -> None:
        if self._tasks.get(job_id) is task:
            del self._tasks[job_id]

    async def _run(self, job: Job) -> None:
        current_job.set(job.id)  # every log line of this task names the job
        try:
            await self._wait_for_port(job)
            if not job.state.terminal:
                if job.status_message_id is None:
                    job = await self._reopen_thread(job)
                if job.state is JobState.ACCEPTED and await self._slots.acquire(job):
                    await self._runner.set_status(job, messages.starting())  # not queued now
            await self._run_through_store_trouble(job)
        except asyncio.CancelledError:
            raise
        except StaleJob:
            log.info("job %s was changed elsewhere (e.g. cancelled); this run stops", job.id)
        except StoreError:
            shared = self._store.shared
            log.exception(
                "job %s: the database keeps failing; it resumes %s",
                job.id,
                "with the heartbeat once it answers" if shared else "at next start",
            )
            await self._runner.notify_requester(
                job, messages.store_trouble(job, resumes_on_its_own=shared)
            )
        except DeliveryError as exc:  # e.g. reopening the thread of a resumed job
            log.warning("job %s: the platform refused it: %s", job.id, exc)
            await self._report_crash(job, JobState.UNDELIVERABLE, str(exc))
        except Exception:
            log.exception("job %s crashed", job.id)
            await self._report_crash(job, JobState.FAILED, messages.internal_error(job))
        finally:
            self._slots.release(job.id)

    async def _wait_for_port(self, job: Job) -> None:
        """Until the job's platform adapter is registered (a resumed job starts before
        the adapters); said once when that takes long (a replica without that platform)."""
        ready = self._ready_event(job.platform)
        try:
            async with asyncio.timeout(PORT_PATIENCE):
                await ready.wait()
        except TimeoutError:
            log.error(
                "job %s is for %s, which this replica does not run; it waits here "
                "(give every replica the same platforms)",
                job.id,
                job.platform,
            )
            await ready.wait()

    async def _run_through_store_trouble(self, job: Job) -> None:
        """Run the job; on a database error, re-read its committed state and run it again
        from there (each step is safe to repeat: posting is deduplicated)."""
        attempt = 1
        while True:
            try:
                await self._runner.run(job)
                return
            except StoreError as exc:
                if attempt >= self._config.store_attempts:
                    raise
                log.warning("job %s: database problem (%s); retrying", job.id, exc)
                await asyncio.sleep(self._config.store_retry_delay * attempt)
                attempt += 1
                job = await self._store.get_job(job.id) or job

    async def _report_crash(self, job: Job, state: JobState, reason: str) -> None:
        """Record and announce an unexpected failure; if even the store is failing
        (disk full, locked), still tell the requester."""
        try:
            current = await self._store.get_job(job.id) or job
            if not current.state.terminal:
                await self._runner.fail(current, state, reason)
        except Exception:
            log.exception("job %s: could not record its failure", job.id)
            await self._runner.notify_requester(job, reason)

    async def _reopen_thread(self, job: Job) -> Job:
        """A job persisted before its thread was opened (crash in between)."""
        port = self.chat_for(job.platform)
        invocation = Invocation(
            conversation=job.conversation,
            requester=Requester(job.requester_id, job.requester_name),
            text=job.params.prompt,
        )
        handle = await port.open_thread(
            invocation,
            messages.status_line(port.mention(job.requester_id), job, messages.starting()),
            status_actions(job),
        )
        return await self._runner.save(
            job, thread=handle.conversation.thread, status_message_id=handle.status_message_id
        )

    # -- side tasks --------------------------------------------------------------------

    def _side(self, coro: Coroutine[Any, Any, None], *, name: str) -> None:
        task = asyncio.create_task(coro, name=name)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def prune(self) -> int:
        """Delete finished jobs older than the retention (ids, prompts and URLs only: the
        bot never stores image bytes)."""
        cutoff = self._clock.now() - self._config.retention_days * 86400
        removed = await self._store.prune_jobs(cutoff)
        if removed:
            log.info("pruned %d job(s) older than %g days", removed, self._config.retention_days)
        return removed

    async def _prune_forever(self) -> None:
        while True:
            try:
                await self.prune()
            except StoreError as exc:
                log.warning("pruning old jobs failed (%s); trying again later", exc)
            await asyncio.sleep(PRUNE_EVERY)

    async def _tell_quarantined(self, bad: QuarantinedJob) -> None:
        if bad.platform is None or bad.requester_id is None:
            return
        await self._ready_event(bad.platform).wait()
        where = Conversation(bad.platform, bad.workspace or "", bad.channel or "", bad.thread)
        try:
            await self.chat_for(bad.platform).notify_user(
                where, bad.requester_id, messages.quarantined(bad.id)
            )
        except Exception as exc:
            log.warning("could not tell the requester of quarantined job %s: %s", bad.id, exc)
