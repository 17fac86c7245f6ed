"""``ImagineBot``: the platform- and backend-neutral entry points adapters call.

``imagine`` / ``animate`` turn a chat command into a persisted job, acknowledged and
given a thread within a fraction of a second; the job then runs in the background
(``supervisor.py``). ``act`` handles the buttons (``buttons.py``), ``submit_dialog`` the
Remix form, ``configure`` a channel's settings, ``history`` and ``show`` a person's past
jobs. ``start`` resumes every unfinished job and must run before the adapters accept
commands."""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace

from bot import channel_config, messages
from bot.backend.errors import BackendError
from bot.backend.protocol import ImageBackend
from bot.backend.types import Capability, Task
from bot.buttons import Buttons, channel_defaults
from bot.chat import (
    Action,
    ActionInvocation,
    ChatPort,
    DeliveryError,
    DialogSubmission,
    Invocation,
    ThreadHandle,
)
from bot.clock import Clock, SystemClock
from bot.command import CommandError, ImagineParams, ReferenceSource
from bot.command_parser import parse_imagine
from bot.config import BotConfig
from bot.critical import CriticalSections
from bot.intake import JobIntake, tell
from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from bot.references import References, ReferenceUnavailable
from bot.runner import JobRunner
from bot.scopes import ScopeResolver
from bot.store import JobStore
from bot.supervisor import JobSupervisor
from bot.telemetry import Telemetry

__all__ = ["ImagineBot", "channel_defaults"]

log = logging.getLogger(__name__)

HISTORY_LENGTH = 10


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
        telemetry: Telemetry | None = None,
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
        rng = rng or random.Random()
        critical = CriticalSections()
        self._supervisor: JobSupervisor
        chat_for = self._chat_for
        self._references = References(store, self._backends, chat_for)
        self._runner = JobRunner(
            store=store,
            backends=self._backends,
            scopes=ScopeResolver(store),
            config=self._config,
            clock=self._clock,
            chat_for=chat_for,
            critical=critical,
            references=self._references,
            telemetry=telemetry,
        )
        self._supervisor = JobSupervisor(
            store=store,
            runner=self._runner,
            config=self._config,
            critical=critical,
            clock=self._clock,
            telemetry=telemetry,
        )
        self._intake = JobIntake(
            store=store,
            runner=self._runner,
            supervisor=self._supervisor,
            config=self._config,
            clock=self._clock,
            rng=rng,
        )
        self._buttons = Buttons(
            store=store,
            intake=self._intake,
            runner=self._runner,
            supervisor=self._supervisor,
            backends=self._backends,
            config=self._config,
            clock=self._clock,
        )

    def _chat_for(self, platform: str) -> ChatPort:
        return self._supervisor.chat_for(platform)

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
        """Wait until every job of this process (children included) has ended."""
        await self._supervisor.drain()

    async def prune(self) -> int:
        """Delete finished jobs older than the retention now (also done daily)."""
        return await self._supervisor.prune()

    @property
    def load(self) -> tuple[int, int]:
        """Jobs waiting for a slot, and jobs holding one, in this process."""
        return self._supervisor.load

    @property
    def leases_held(self) -> int:
        """Replicas: unfinished jobs this process held at its last heartbeat."""
        return self._supervisor.leases_held

    @property
    def pending(self) -> int:
        """Jobs running or queued in this process."""
        return self._supervisor.pending

    @property
    def backends(self) -> Mapping[str, ImageBackend]:
        return self._backends

    # -- commands ------------------------------------------------------------------------

    async def imagine(self, invocation: Invocation) -> str | None:
        """Accept ``/imagine``. Returns the job id, or None when the user was told why not."""
        return await self._command(invocation, Task.IMAGE)

    async def animate(self, invocation: Invocation) -> str | None:
        """Accept ``/animate`` (a short video)."""
        return await self._command(invocation, Task.VIDEO)

    async def _command(self, invocation: Invocation, task: Task) -> str | None:
        port = self._chat_for(invocation.conversation.platform)
        requester = invocation.requester
        key = ChannelKey.of(invocation.conversation)
        try:
            await self._intake.check(invocation.conversation, requester)
            settings = await self._store.get_channel_settings(key)
            backend = self._backend_for(settings)
            capabilities = self._backends[backend].capabilities
            if task is Task.VIDEO and Capability.VIDEO not in capabilities:
                raise CommandError(messages.video_not_offered(backend))
            attachment = invocation.attachments[0] if invocation.attachments else None
            params = parse_imagine(
                invocation.text,
                channel_defaults(self._config.defaults, settings),
                invocation.options or None,
                task=task,
                has_image=attachment is not None,
            )
            if word := self._config.access.banned_word_in(params.prompt):
                raise CommandError(messages.banned_word(word))
            if attachment is not None:
                if Capability.IMAGE_REFERENCES not in capabilities:
                    raise CommandError(messages.attachment_needs_references(backend))
                await self._references.attachment(port, attachment)  # refused now, not later
                params = replace(
                    params,
                    reference=ReferenceSource(url=attachment.url, filename=attachment.filename),
                )
        except (CommandError, ReferenceUnavailable) as exc:
            await tell(port, invocation, str(exc))
            return None
        return await self._accept(port, invocation, params, backend)

    async def _accept(
        self, port: ChatPort, invocation: Invocation, params: ImagineParams, backend: str
    ) -> str | None:
        job = await self._intake.persist(
            params,
            key=ChannelKey.of(invocation.conversation),
            thread=invocation.conversation.thread,
            requester=invocation.requester,
            backend=backend,
        )
        if job is None:
            await tell(port, invocation, messages.save_failed())
            return None
        await port.acknowledge(invocation)

        async def opener(text: str, actions: Sequence[Action]) -> ThreadHandle:
            return await port.open_thread(invocation, text, actions)

        return await self._intake.start(port, job, opener, invocation)

    async def act(self, action: ActionInvocation) -> None:
        """A button was pressed."""
        port = self._chat_for(action.conversation.platform)
        job = await self._store.get_job(action.job_id)
        if job is None:
            await tell(port, action, messages.unknown_job(action.job_id))
            return
        await self._buttons.press(port, job, action)

    async def submit_dialog(self, submission: DialogSubmission) -> None:
        """The Remix dialog was submitted."""
        port = self._chat_for(submission.conversation.platform)
        await self._buttons.submit_dialog(port, submission)

    async def configure(self, invocation: Invocation) -> None:
        """``/imagine-settings``: show or change the channel's defaults (admins only)."""
        port = self._chat_for(invocation.conversation.platform)
        if not self._config.access.is_admin(invocation.requester):
            await tell(port, invocation, messages.admins_only())
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
        await tell(port, invocation, reply)

    async def history(self, invocation: Invocation) -> None:
        """``/imagine-history``: the requester's last jobs in this workspace, privately."""
        port = self._chat_for(invocation.conversation.platform)
        jobs = await self._store.recent_jobs(
            ChannelKey.of(invocation.conversation), invocation.requester.user_id, HISTORY_LENGTH
        )
        now = self._clock.now()
        lines = []
        for job in jobs:
            link = await port.thread_link(job.conversation) if job.thread else None
            lines.append(messages.history_line(job, messages.ago(now - job.created_at), link))
        await tell(port, invocation, messages.history(lines))

    async def show(self, invocation: Invocation) -> None:
        """``/imagine-show JOB``: post a finished job's result card again, with live
        buttons, where the command was given."""
        port = self._chat_for(invocation.conversation.platform)
        job_id = invocation.text.strip().strip("`")
        if not job_id:
            await tell(port, invocation, messages.show_usage())
            return
        job = await self._store.get_job(job_id)
        if job is None or job.workspace != invocation.conversation.workspace:
            await tell(port, invocation, messages.unknown_job(job_id))
            return
        if job.state is not JobState.POSTED or job.deleted_by is not None:
            await tell(port, invocation, messages.nothing_to_show(job))
            return
        await port.acknowledge(invocation)
        where = invocation.conversation
        try:
            card = await self._runner.result_card(port, job, where)
            await port.post_media(
                where, card.upload, card.caption, card.actions, f"show:{uuid.uuid4().hex}"
            )
        except (BackendError, DeliveryError) as exc:
            await tell(port, invocation, messages.show_failed(job, str(exc)))

    # -- internals ---------------------------------------------------------------------

    def _backend_for(self, settings: ChannelSettings) -> str:
        name = settings.backend or self._default_backend
        if name not in self._backends:
            raise CommandError(messages.channel_backend_missing(name, tuple(self._backends)))
        return name
