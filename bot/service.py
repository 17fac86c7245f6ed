"""``ImagineBot``: the platform-agnostic entry points adapters call.

``imagine`` turns a chat command into a persisted job, acknowledged and given a
thread within a fraction of a second; the job then runs in the background. ``act``
handles the buttons under results. ``start`` resumes every unfinished job."""

from __future__ import annotations

import asyncio
import logging
import random
from dataclasses import replace

from bot import channel_config, messages
from bot.backend.protocol import ImageBackend
from bot.chat import (
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
from bot.fairness import SlotScheduler
from bot.ids import new_job_id
from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from bot.projects import ProjectResolver
from bot.runner import JobRunner
from bot.store import JobStore, StoreError

log = logging.getLogger(__name__)

SEED_LIMIT = 2**32


def channel_defaults(base: CommandDefaults, settings: ChannelSettings) -> CommandDefaults:
    """Config defaults with the channel's stored overrides applied."""
    overrides = {
        name: value
        for name in ("width", "height", "steps", "style")
        if (value := getattr(settings, name)) is not None
    }
    return replace(base, **overrides)


class UnknownPlatform(LookupError):
    pass


class ImagineBot:
    def __init__(
        self,
        *,
        store: JobStore,
        backend: ImageBackend,
        config: BotConfig | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._config = config or BotConfig()
        self._clock = clock or SystemClock()
        self._rng = rng or random.Random()
        self._chats: dict[str, ChatPort] = {}
        self._scheduler = SlotScheduler(
            per_user=self._config.max_jobs_per_user, overall=self._config.max_running_jobs
        )
        self._runner = JobRunner(
            store=store,
            backend=backend,
            projects=ProjectResolver(store, backend),
            config=self._config,
            clock=self._clock,
            chat_for=self._chat_for,
        )
        self._tasks: dict[str, asyncio.Task[None]] = {}

    # -- lifecycle -----------------------------------------------------------------------

    def add_chat(self, port: ChatPort) -> None:
        self._chats[port.platform] = port

    async def start(self) -> int:
        """Resume every unfinished job whose platform is connected; return how many."""
        jobs = [j for j in await self._store.unfinished_jobs() if j.platform in self._chats]
        for job in jobs:
            if job.state is not JobState.ACCEPTED:
                self._scheduler.occupy(job.id, job.requester_id)
        for job in jobs:
            if job.state is JobState.ACCEPTED:
                self._scheduler.enqueue(job.id, job.requester_id)
            self._spawn(job)
        if jobs:
            log.info("resumed %d unfinished job(s)", len(jobs))
        return len(jobs)

    async def aclose(self) -> None:
        """Stop background work. Unfinished jobs stay in the store and resume next start."""
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def wait_for(self, job_id: str) -> Job | None:
        """Wait until the job's background run ends; return its final stored state."""
        task = self._tasks.get(job_id)
        if task is not None:
            await asyncio.wait({task})
        return await self._store.get_job(job_id)

    async def drain(self) -> None:
        """Wait until every job of this process (re-rolls included) has ended."""
        while self._tasks:
            await asyncio.wait(set(self._tasks.values()))

    @property
    def pending(self) -> int:
        """Jobs running or queued in this process."""
        return len(self._tasks)

    # -- entry points ------------------------------------------------------------------

    async def imagine(self, invocation: Invocation) -> str | None:
        """Accept a command. Returns the job id, or None when the user was told why not."""
        port = self._chat_for(invocation.conversation.platform)
        requester = invocation.requester
        key = ChannelKey.of(invocation.conversation)
        try:
            if refusal := self._config.access.refusal(invocation.conversation, requester):
                raise CommandError(refusal)
            settings = await self._store.get_channel_settings(key)
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
        )
        if job is None:
            await self._tell(port, invocation, messages.save_failed())
            return None
        await port.acknowledge(invocation)
        position = self._scheduler.enqueue(job.id, job.requester_id)
        try:
            handle = await port.open_thread(
                invocation,
                messages.status_line(
                    port.mention(requester.user_id), job, self._state_text(position)
                ),
            )
        except DeliveryError as exc:
            self._scheduler.release(job.id)
            await self._record(job, state=JobState.UNDELIVERABLE, error=str(exc))
            await self._tell(port, invocation, str(exc))
            return None
        job = replace(
            job, thread=handle.conversation.thread, status_message_id=handle.status_message_id
        )
        await self._record(job)  # if this fails, the job's next transition writes the refs
        self._spawn(job)
        return job.id

    async def act(self, action: ActionInvocation) -> None:
        """A button under a result was pressed."""
        port = self._chat_for(action.conversation.platform)
        job = await self._store.get_job(action.job_id)
        if job is None:
            await self._tell(port, action, messages.unknown_job(action.job_id))
            return
        if action.kind is ActionKind.DELETE:
            await self._delete(port, job, action)
        else:
            await self._reroll(port, job, action)

    async def configure(self, invocation: Invocation) -> None:
        """``/imagine-settings``: show or change the channel's defaults (admins only)."""
        port = self._chat_for(invocation.conversation.platform)
        if not self._config.access.is_admin(invocation.requester):
            await self._tell(port, invocation, messages.admins_only())
            return
        key = ChannelKey.of(invocation.conversation)
        text = invocation.text.strip()
        try:
            current = await self._store.get_channel_settings(key)
            if text in ("", "show"):
                reply = channel_config.describe(current, self._config.defaults)
            else:
                updated = channel_config.apply(text, current, self._config.defaults)
                await self._store.set_channel_settings(key, updated)
                log.info("settings of %s changed by %s", key, invocation.requester.user_id)
                reply = messages.settings_saved(
                    channel_config.describe(updated, self._config.defaults)
                )
        except CommandError as exc:
            reply = str(exc)
        await self._tell(port, invocation, reply)

    # -- internals ---------------------------------------------------------------------

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

    async def _delete(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        if action.requester.user_id != job.requester_id and not self._config.access.is_admin(
            action.requester
        ):
            await self._tell(port, action, messages.not_yours(port.mention(job.requester_id)))
            return
        targets = dict.fromkeys((action.message_id, *job.posted_message_ids))
        for message_id in targets:
            try:
                await port.delete_message(job.conversation, message_id)
            except DeliveryError as exc:
                log.info("job %s: delete of %s failed: %s", job.id, message_id, exc)
        log.info("job %s: result deleted by %s", job.id, action.requester.user_id)

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
            parent=original.id,
        )
        if job is None:
            await self._tell(port, action, messages.save_failed())
            return
        position = self._scheduler.enqueue(job.id, job.requester_id)
        text = messages.status_line(port.mention(job.requester_id), job, self._state_text(position))
        try:
            status_id = await port.post_text(job.conversation, text)
        except DeliveryError as exc:
            self._scheduler.release(job.id)
            await self._record(job, state=JobState.UNDELIVERABLE, error=str(exc))
            await self._tell(port, action, str(exc))
            return
        job = replace(job, status_message_id=status_id)
        await self._record(job)
        self._spawn(job)

    async def _persist_new(
        self,
        params: ImagineParams,
        *,
        conversation_thread: str | None,
        key: ChannelKey,
        requester: Requester,
        parent: str | None = None,
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
                thread=conversation_thread,
                parent_job_id=parent,
            )
            try:
                await self._store.add_job(job)
            except KeyError:
                continue  # id collision: draw another
            except Exception:
                log.exception("could not persist a new job")
                return None
            log.info("job %s accepted for %s in %s", job.id, requester.user_id, key)
            return job
        return None

    async def _record(self, job: Job, **changes: object) -> None:
        """Persist, logging instead of raising: the caller tells the user either way."""
        try:
            await self._runner.save(job, **changes)
        except Exception:
            log.exception("job %s: could not record %s", job.id, changes or "its thread")

    def _spawn(self, job: Job) -> None:
        task = asyncio.create_task(self._run(job), name=f"job-{job.id}")
        self._tasks[job.id] = task
        task.add_done_callback(lambda _: self._tasks.pop(job.id, None))

    async def _run(self, job: Job) -> None:
        try:
            if job.status_message_id is None:
                job = await self._reopen_thread(job)
            if job.state is JobState.ACCEPTED and self._scheduler.position(job.id):
                await self._scheduler.acquire(job.id)
                await self._runner.set_status(job, messages.starting())  # no longer queued
            await self._run_through_store_trouble(job)
        except asyncio.CancelledError:
            raise
        except StoreError:
            log.exception("job %s: the database keeps failing; it resumes at next start", job.id)
            await self._runner.notify_requester(job, messages.store_trouble(job))
        except DeliveryError as exc:  # e.g. reopening the thread of a resumed job
            log.warning("job %s: the platform refused it: %s", job.id, exc)
            await self._report_crash(job, JobState.UNDELIVERABLE, str(exc))
        except Exception:
            log.exception("job %s crashed", job.id)
            await self._report_crash(job, JobState.FAILED, messages.internal_error(job))
        finally:
            self._scheduler.release(job.id)

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
        port = self._chat_for(job.platform)
        invocation = Invocation(
            conversation=job.conversation,
            requester=Requester(job.requester_id, job.requester_name),
            text=job.params.prompt,
        )
        handle: ThreadHandle = await port.open_thread(
            invocation,
            messages.status_line(port.mention(job.requester_id), job, messages.starting()),
        )
        return await self._runner.save(
            job, thread=handle.conversation.thread, status_message_id=handle.status_message_id
        )

    async def _tell(
        self, port: ChatPort, invocation: Invocation | ActionInvocation, text: str
    ) -> None:
        try:
            await port.notify_user(
                invocation.conversation, invocation.requester.user_id, text, invocation
            )
        except DeliveryError as exc:
            log.warning("could not answer %s: %s", invocation.requester.user_id, exc)

    def _state_text(self, position: int | None) -> str:
        return messages.queued(position) if position else messages.starting()

    def _chat_for(self, platform: str) -> ChatPort:
        try:
            return self._chats[platform]
        except KeyError:
            raise UnknownPlatform(f"no chat adapter registered for {platform!r}") from None
