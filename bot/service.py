"""``ImagineBot``: the platform- and backend-neutral entry points adapters call.

``imagine`` turns a chat command into a persisted job, acknowledged and given a thread
within a fraction of a second; the job then runs in the background (``supervisor.py``).
``act`` handles the buttons; ``configure`` a channel's settings. ``start`` resumes every
unfinished job and must run before the adapters accept commands."""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace

from bot import channel_config, messages
from bot.backend.protocol import ImageBackend
from bot.chat import (
    Action,
    ActionInvocation,
    ActionKind,
    ChatPort,
    DeliveryError,
    Invocation,
    Requester,
    ThreadHandle,
)
from bot.clock import Clock, SystemClock
from bot.command import CommandDefaults, CommandError, ImagineParams
from bot.command_parser import parse_imagine
from bot.config import BotConfig
from bot.critical import CriticalSections
from bot.ids import new_job_id
from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from bot.runner import JobRunner, status_actions
from bot.scopes import ScopeResolver
from bot.store import JobStore, StaleJob
from bot.supervisor import JobSupervisor

log = logging.getLogger(__name__)

SEED_LIMIT = 2**32
CANCEL_ATTEMPTS = 3

Opener = Callable[[str, Sequence[Action]], Awaitable[ThreadHandle]]
"""Posts a job's status message (text, buttons) and returns where its thread is."""


def channel_defaults(base: CommandDefaults, settings: ChannelSettings) -> CommandDefaults:
    """Config defaults with the channel's stored overrides applied."""
    overrides = {
        name: value
        for name in ("width", "height", "steps", "style")
        if (value := getattr(settings, name)) is not None
    }
    return replace(base, **overrides)


class ImagineBot:
    def __init__(
        self,
        *,
        store: JobStore,
        backends: Mapping[str, ImageBackend],
        default_backend: str | None = None,
        config: BotConfig | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        if not backends:
            raise ValueError("at least one backend is needed")
        self._store = store
        self._backends = dict(backends)
        self._default_backend = default_backend or next(iter(self._backends))
        if self._default_backend not in self._backends:
            raise ValueError(f"the default backend {self._default_backend!r} is not configured")
        self._config = config or BotConfig()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        critical = CriticalSections()
        self._supervisor: JobSupervisor
        self._runner = JobRunner(
            store=store,
            backends=self._backends,
            scopes=ScopeResolver(store),
            config=self._config,
            clock=self._clock,
            chat_for=lambda platform: self._supervisor.chat_for(platform),
            critical=critical,
        )
        self._supervisor = JobSupervisor(
            store=store, runner=self._runner, config=self._config, critical=critical
        )

    # -- lifecycle -----------------------------------------------------------------------

    def add_chat(self, port: ChatPort) -> None:
        self._supervisor.add_chat(port)

    async def start(self) -> int:
        """Resume every unfinished job; return how many. Run before accepting commands."""
        return await self._supervisor.start()

    async def aclose(self, grace: float | None = None) -> None:
        """Stop background work (posts under way get ``grace`` seconds to be recorded).
        Unfinished jobs stay in the store and resume next start."""
        await self._supervisor.aclose(grace)

    async def wait_for(self, job_id: str) -> Job | None:
        return await self._supervisor.wait_for(job_id)

    async def drain(self) -> None:
        """Wait until every job of this process (re-rolls included) has ended."""
        await self._supervisor.drain()

    @property
    def pending(self) -> int:
        """Jobs running or queued in this process."""
        return self._supervisor.pending

    @property
    def backends(self) -> Mapping[str, ImageBackend]:
        return self._backends

    # -- entry points ------------------------------------------------------------------

    async def imagine(self, invocation: Invocation) -> str | None:
        """Accept a command. Returns the job id, or None when the user was told why not."""
        port = self._supervisor.chat_for(invocation.conversation.platform)
        requester = invocation.requester
        key = ChannelKey.of(invocation.conversation)
        try:
            if refusal := self._config.access.refusal(invocation.conversation, requester):
                raise CommandError(refusal)
            settings = await self._store.get_channel_settings(key)
            backend = self._backend_for(settings)
            params = parse_imagine(
                invocation.text,
                channel_defaults(self._config.defaults, settings),
                invocation.options or None,
            )
            if word := self._config.access.banned_word_in(params.prompt):
                raise CommandError(messages.banned_word(word))
            await self._check_rate(key, requester)
        except CommandError as exc:
            await self._tell(port, invocation, str(exc))
            return None
        job = await self._persist_new(
            params,
            conversation_thread=invocation.conversation.thread,
            key=key,
            requester=requester,
            backend=backend,
        )
        if job is None:
            await self._tell(port, invocation, messages.save_failed())
            return None
        await port.acknowledge(invocation)

        async def opener(text: str, actions: Sequence[Action]) -> ThreadHandle:
            return await port.open_thread(invocation, text, actions)

        return await self._open_and_spawn(port, job, opener, invocation)

    async def act(self, action: ActionInvocation) -> None:
        """A button was pressed."""
        port = self._supervisor.chat_for(action.conversation.platform)
        job = await self._store.get_job(action.job_id)
        if job is None:
            await self._tell(port, action, messages.unknown_job(action.job_id))
            return
        if action.kind is ActionKind.DELETE:
            await self._delete(port, job, action)
        elif action.kind is ActionKind.CANCEL:
            await self._cancel(port, job, action)
        elif action.kind is ActionKind.REROLL:
            await self._reroll(port, job, action)
        else:
            await self._tell(port, action, messages.not_available(action.kind))

    async def configure(self, invocation: Invocation) -> None:
        """``/imagine-settings``: show or change the channel's defaults (admins only)."""
        port = self._supervisor.chat_for(invocation.conversation.platform)
        if not self._config.access.is_admin(invocation.requester):
            await self._tell(port, invocation, messages.admins_only())
            return
        key = ChannelKey.of(invocation.conversation)
        text = invocation.text.strip()
        backends = tuple(self._backends)
        try:
            current = await self._store.get_channel_settings(key)
            if text in ("", "show"):
                reply = channel_config.describe(
                    current, self._config.defaults, self._default_backend
                )
            else:
                updated = channel_config.apply(text, current, self._config.defaults, backends)
                await self._store.set_channel_settings(key, updated)
                log.info("settings of %s changed by %s", key, invocation.requester.user_id)
                reply = messages.settings_saved(
                    channel_config.describe(updated, self._config.defaults, self._default_backend)
                )
        except CommandError as exc:
            reply = str(exc)
        await self._tell(port, invocation, reply)

    # -- buttons -----------------------------------------------------------------------

    async def _delete(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        if not self._may_manage(job, action.requester):
            await self._tell(port, action, messages.not_yours(port.mention(job.requester_id)))
            return
        targets = dict.fromkeys((action.message_id, *job.posted_message_ids))
        for message_id in targets:
            try:
                await port.delete_message(job.conversation, message_id)
            except DeliveryError as exc:
                log.info("job %s: delete of %s failed: %s", job.id, message_id, exc)
        log.info("job %s: result deleted by %s", job.id, action.requester.user_id)

    async def _cancel(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        """Cancel a queued or running job: written first (compare-and-set, so a result that
        was recorded first wins and one that arrives later is never posted), then the
        service is asked to stop where it can and the local run is stopped."""
        if not self._may_manage(job, action.requester):
            await self._tell(
                port, action, messages.only_owner_cancels(port.mention(job.requester_id))
            )
            return
        cancelled: Job | None = None
        for _ in range(CANCEL_ATTEMPTS):
            if job.state.rank >= JobState.COMPLETED.rank:
                await self._tell(port, action, messages.not_cancellable(job))
                return
            try:
                cancelled = await self._store.save_job(
                    replace(
                        job,
                        state=JobState.CANCELLED,
                        cancelled_by=action.requester.user_id,
                        error="cancelled",
                        notified=False,
                        updated_at=self._clock.now(),
                    ),
                    fenced=False,
                )
                break
            except StaleJob:
                job = await self._store.get_job(job.id) or job
        if cancelled is None:
            await self._tell(port, action, messages.not_cancellable(job))
            return
        log.info("job %s cancelled by %s", job.id, action.requester.user_id)
        task = self._supervisor.task_of(job.id)
        if task is not None:
            task.cancel()
        self._supervisor.release(job.id)
        backend = self._runner.backend_of(job)
        if backend is not None and job.submission is not None:
            try:
                stopped = await backend.cancel(job.submission)
                log.info("job %s: the service %s", job.id, "stopped it" if stopped else "goes on")
            except Exception:
                log.exception("job %s: asking the service to cancel failed", job.id)
        await self._runner.announce(cancelled)

    async def _reroll(self, port: ChatPort, original: Job, action: ActionInvocation) -> None:
        try:
            if refusal := self._config.access.refusal(action.conversation, action.requester):
                raise CommandError(refusal)
            await self._check_rate(original.channel_key, action.requester)
        except CommandError as exc:
            await self._tell(port, action, str(exc))
            return
        params = replace(original.params, seed=None)
        job = await self._persist_new(
            params,
            conversation_thread=original.thread,
            key=original.channel_key,
            requester=action.requester,
            backend=original.backend,
            parent=original,
            kind=ActionKind.REROLL,
            index=action.index,
        )
        if job is None:
            await self._tell(port, action, messages.save_failed())
            return
        conversation = job.conversation

        async def opener(text: str, actions: Sequence[Action]) -> ThreadHandle:
            message_id = await port.post_text(conversation, text, actions)
            return ThreadHandle(conversation, message_id)

        await self._open_and_spawn(port, job, opener, action)

    # -- internals ---------------------------------------------------------------------

    async def _open_and_spawn(
        self,
        port: ChatPort,
        job: Job,
        opener: Opener,
        answer_to: Invocation | ActionInvocation,
    ) -> str | None:
        """Post the job's status (its thread), record where, and start it. The slot taken
        here is given back on any failure before the job runs."""
        if self._supervisor.closing:
            await self._tell(port, answer_to, messages.saved_for_restart(job))
            return job.id
        position = self._supervisor.enqueue(job)
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

    async def _end_unposted(
        self, port: ChatPort, job: Job, answer_to: Invocation | ActionInvocation, reason: str
    ) -> None:
        """The platform refused the status message: the job ends undeliverable, and the
        requester is told through the command itself (the adapter words the reason)."""
        try:
            job = await self._runner.save(
                job, state=JobState.UNDELIVERABLE, error=reason, notified=False
            )
        except Exception:
            log.exception("job %s: could not record that it was undeliverable", job.id)
        await self._tell(port, answer_to, reason)
        try:
            await self._runner.save(job, notified=True)
        except Exception:
            log.exception("job %s: could not record its notice", job.id)

    async def _check_rate(self, key: ChannelKey, requester: Requester) -> None:
        access = self._config.access
        if access.rate_limit_jobs <= 0:
            return
        since = self._clock.now() - access.rate_limit_window
        if await self._store.count_jobs_since(key, requester.user_id, since) >= (
            access.rate_limit_jobs
        ):
            raise CommandError(
                messages.rate_limited(access.rate_limit_jobs, access.rate_limit_window)
            )

    def _backend_for(self, settings: ChannelSettings) -> str:
        name = settings.backend or self._default_backend
        if name not in self._backends:
            raise CommandError(messages.channel_backend_missing(name, tuple(self._backends)))
        return name

    def _may_manage(self, job: Job, requester: Requester) -> bool:
        return requester.user_id == job.requester_id or self._config.access.is_admin(requester)

    async def _persist_new(
        self,
        params: ImagineParams,
        *,
        conversation_thread: str | None,
        key: ChannelKey,
        requester: Requester,
        backend: str,
        parent: Job | None = None,
        kind: ActionKind | None = None,
        index: int | None = None,
    ) -> Job | None:
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
                thread=conversation_thread,
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

    async def _record(self, job: Job) -> Job:
        """Persist the job's thread refs, logging instead of raising: the job's next write
        carries them too (compare-and-set still holds, the version did not move)."""
        try:
            return await self._runner.save(job)
        except Exception:
            log.exception("job %s: could not record its thread", job.id)
            return job

    async def _tell(
        self, port: ChatPort, invocation: Invocation | ActionInvocation, text: str
    ) -> None:
        try:
            await port.notify_user(
                invocation.conversation, invocation.requester.user_id, text, invocation
            )
        except DeliveryError as exc:
            log.warning("could not answer %s: %s", invocation.requester.user_id, exc)
