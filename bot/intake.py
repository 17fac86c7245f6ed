"""Turning a request (a command, a button press, a dialog) into a durable job: access and
quota checks, the job written first, its status message posted, then started.

A job is persisted before anything else happens, so a crash at any later point leaves a
job the next start resumes; the scheduler slot taken for it is given back on any
failure before it runs."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace

from bot import messages
from bot.chat import (
    Action,
    ActionInvocation,
    ActionKind,
    ChatPort,
    Conversation,
    DeliveryError,
    DialogSubmission,
    Invocation,
    Requester,
    ThreadHandle,
)
from bot.clock import Clock
from bot.command import CommandError, ImagineParams
from bot.config import BotConfig
from bot.ids import new_job_id
from bot.jobs import ChannelKey, Job, JobState
from bot.runner import JobRunner, status_actions
from bot.store import JobStore
from bot.supervisor import JobSupervisor

log = logging.getLogger(__name__)

SEED_LIMIT = 2**32

Opener = Callable[[str, Sequence[Action]], Awaitable[ThreadHandle]]
"""Posts a job's status message (text, buttons) and returns where its thread is."""
Answerable = Invocation | ActionInvocation | DialogSubmission


class JobIntake:
    def __init__(
        self,
        *,
        store: JobStore,
        runner: JobRunner,
        supervisor: JobSupervisor,
        config: BotConfig,
        clock: Clock,
        rng: random.Random,
    ) -> None:
        self._store = store
        self._runner = runner
        self._supervisor = supervisor
        self._config = config
        self._clock = clock
        self._rng = rng

    async def check(self, where: Conversation, requester: Requester) -> None:
        """``CommandError`` (worded for the user) when this person may not start a job here
        now: access lists, then the per-user rate limit."""
        access = self._config.access
        if refusal := access.refusal(where, requester):
            raise CommandError(refusal)
        if access.rate_limit_jobs <= 0:
            return
        since = self._clock.now() - access.rate_limit_window
        key = ChannelKey.of(where)
        if await self._store.count_jobs_since(key, requester.user_id, since) >= (
            access.rate_limit_jobs
        ):
            raise CommandError(
                messages.rate_limited(access.rate_limit_jobs, access.rate_limit_window)
            )

    async def persist(
        self,
        params: ImagineParams,
        *,
        key: ChannelKey,
        thread: str | None,
        requester: Requester,
        backend: str,
        parent: Job | None = None,
        kind: ActionKind | None = None,
        index: int | None = None,
    ) -> Job | None:
        """Write the new job (``accepted``); None when the store refused (logged)."""
        if params.seed is None:
            params = replace(params, seed=self._rng.randrange(SEED_LIMIT))
        now = self._clock.now()
        for _ in range(5):
            job = Job(
                id=new_job_id(self._rng),
                platform=key.platform,
                workspace=key.workspace,
                channel=key.channel,
                requester_id=requester.user_id,
                requester_name=requester.display_name,
                params=params,
                state=JobState.ACCEPTED,
                created_at=now,
                updated_at=now,
                backend=backend,
                thread=thread,
                parent_job_id=parent.id if parent is not None else None,
                parent_index=index,
                action=kind,
            )
            try:
                job = await self._store.add_job(job)
            except KeyError:
                continue  # id collision: draw another
            except Exception:
                log.exception("could not persist a new job")
                return None
            log.info("job %s accepted for %s in %s", job.id, requester.user_id, key)
            return job
        return None

    async def start(
        self, port: ChatPort, job: Job, opener: Opener, answer_to: Answerable
    ) -> str | None:
        """Post the job's status (its thread), record where, and start it. The slot taken
        here is given back on any failure before the job runs."""
        if self._supervisor.closing:
            await tell(port, answer_to, messages.saved_for_restart(job))
            return job.id
        position = await self._supervisor.enqueue(job)
        spawned = False
        try:
            state_text = messages.queued(position) if position else messages.starting()
            try:
                handle = await opener(
                    messages.status_line(port.mention(job.requester_id), job, state_text),
                    status_actions(job),
                )
            except DeliveryError as exc:
                await self._end_unposted(port, job, answer_to, str(exc))
                return None
            except Exception:
                log.exception("job %s: posting its status failed unexpectedly", job.id)
                await self._end_unposted(port, job, answer_to, messages.internal_error(job))
                return None
            job = replace(
                job, thread=handle.conversation.thread, status_message_id=handle.status_message_id
            )
            job = await self._record(job)  # if this fails, the job's next write carries the refs
            self._supervisor.spawn(job)
            spawned = True
        finally:
            if not spawned:
                self._supervisor.release(job.id)
        return job.id

    async def start_in_thread(
        self, port: ChatPort, job: Job, answer_to: ActionInvocation | DialogSubmission
    ) -> str | None:
        """Start a child job: its status goes in the thread the press came from, or a new
        thread when the result it acts on is in a channel (a re-posted card)."""
        where = answer_to.conversation
        if where.thread is None:
            invocation = Invocation(where, answer_to.requester, text=job.params.prompt)

            async def open_new(text: str, actions: Sequence[Action]) -> ThreadHandle:
                return await port.open_thread(invocation, text, actions)

            return await self.start(port, job, open_new, answer_to)

        async def in_thread(text: str, actions: Sequence[Action]) -> ThreadHandle:
            return ThreadHandle(where, await port.post_text(where, text, actions))

        return await self.start(port, job, in_thread, answer_to)

    async def _end_unposted(
        self, port: ChatPort, job: Job, answer_to: Answerable, reason: str
    ) -> None:
        """The platform refused the status message: the job ends undeliverable, and the
        requester is told through the command itself (the adapter words the reason)."""
        try:
            job = await self._runner.save(
                job, state=JobState.UNDELIVERABLE, error=reason, notified=False
            )
        except Exception:
            log.exception("job %s: could not record that it was undeliverable", job.id)
        await tell(port, answer_to, reason)
        try:
            await self._runner.save(job, notified=True)
        except Exception:
            log.exception("job %s: could not record its notice", job.id)

    async def _record(self, job: Job) -> Job:
        """Persist the job's thread refs, logging instead of raising: the job's next write
        carries them too (compare-and-set still holds, the version did not move)."""
        try:
            return await self._runner.save(job)
        except Exception:
            log.exception("job %s: could not record its thread", job.id)
            return job


async def tell(port: ChatPort, answer_to: Answerable, text: str) -> None:
    """Answer the person privately (through their command when it can still be answered)."""
    try:
        await port.notify_user(answer_to.conversation, answer_to.requester.user_id, text, answer_to)
    except DeliveryError as exc:
        log.warning("could not answer %s: %s", answer_to.requester.user_id, exc)
