"""What the buttons do. Every creative action (Re-roll, Vary, Upscale, Remix, Animate) is
a new child job of the presser's: checked and counted like their own command, recording
its parent, image and action, posted in the thread the press came from. Only the
requester or an admin may Delete or Cancel."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import replace
from typing import Final

from bot import messages
from bot.backend.protocol import ImageBackend
from bot.backend.types import Capability, Task
from bot.chat import (
    ActionInvocation,
    ActionKind,
    ChatPort,
    DeliveryError,
    Dialog,
    DialogSubmission,
    Requester,
)
from bot.clock import Clock
from bot.command import CommandDefaults, CommandError, ImagineParams, ReferenceSource
from bot.command_parser import (
    DEFAULT_SECONDS,
    VIDEO_SIDE,
    format_imagine,
    parse_imagine,
    size_for_aspect_ratio,
)
from bot.config import BotConfig
from bot.intake import JobIntake, tell
from bot.jobs import ChannelKey, ChannelSettings, Job, JobState
from bot.runner import JobRunner
from bot.store import JobStore, StaleJob
from bot.supervisor import JobSupervisor

log = logging.getLogger(__name__)

SUBTLE_WEIGHT: Final = 0.75
STRONG_WEIGHT: Final = 0.35
UPSCALE_WEIGHT: Final = 1.0
WRITE_ATTEMPTS: Final = 3
NEEDS: Final = {
    ActionKind.VARY_SUBTLE: Capability.IMAGE_REFERENCES,
    ActionKind.VARY_STRONG: Capability.IMAGE_REFERENCES,
    ActionKind.UPSCALE: Capability.IMAGE_REFERENCES,
    ActionKind.ANIMATE: Capability.VIDEO,
}


def channel_defaults(base: CommandDefaults, settings: ChannelSettings) -> CommandDefaults:
    """Config defaults with the channel's stored overrides applied."""
    overrides = {
        name: value
        for name in ("width", "height", "steps", "style")
        if (value := getattr(settings, name)) is not None
    }
    return replace(base, **overrides)


class Buttons:
    def __init__(
        self,
        *,
        store: JobStore,
        intake: JobIntake,
        runner: JobRunner,
        supervisor: JobSupervisor,
        backends: Mapping[str, ImageBackend],
        config: BotConfig,
        clock: Clock,
    ) -> None:
        self._store = store
        self._intake = intake
        self._runner = runner
        self._supervisor = supervisor
        self._backends = backends
        self._config = config
        self._clock = clock

    async def press(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        if job.deleted_by is not None:
            await tell(port, action, messages.deleted_already(job))
            return
        if action.kind is ActionKind.DELETE:
            await self._delete(port, job, action)
        elif action.kind is ActionKind.CANCEL:
            await self._cancel(port, job, action)
        elif action.kind is ActionKind.REMIX:
            await self._open_remix(port, job, action)
        else:
            await self._create_child(port, job, action)

    async def submit_dialog(self, port: ChatPort, submission: DialogSubmission) -> None:
        """The Remix dialog came back: its text is a command, parsed like one."""
        parent = await self._store.get_job(submission.job_id)
        if parent is None:
            await tell(port, submission, messages.unknown_job(submission.job_id))
            return
        try:
            await self._intake.check(submission.conversation, submission.requester)
            settings = await self._store.get_channel_settings(parent.channel_key)
            params = parse_imagine(
                submission.text, channel_defaults(self._config.defaults, settings)
            )
            if word := self._config.access.banned_word_in(params.prompt):
                raise CommandError(messages.banned_word(word))
        except CommandError as exc:
            await tell(port, submission, str(exc))
            return
        await self._child(port, parent, submission, params, ActionKind.REMIX, None)

    # -- creative actions ----------------------------------------------------------------

    async def _create_child(self, port: ChatPort, parent: Job, action: ActionInvocation) -> None:
        try:
            await self._intake.check(action.conversation, action.requester)
            params = self._child_params(parent, action.kind, action.index)
        except CommandError as exc:
            await tell(port, action, str(exc))
            return
        index = action.index if action.kind is not ActionKind.REROLL else None
        await self._child(port, parent, action, params, action.kind, index)

    def _child_params(self, parent: Job, kind: ActionKind, index: int | None) -> ImagineParams:
        """What the child job asks for; ``CommandError`` when the action can't apply."""
        if kind is ActionKind.REROLL:
            return replace(parent.params, seed=None)
        backend = self._backends.get(parent.backend)
        needed = NEEDS.get(kind)
        if needed is not None and (backend is None or needed not in backend.capabilities):
            raise CommandError(messages.not_offered(kind, parent.backend))
        k = index or 0
        if not 0 <= k < len(parent.results) or not parent.results[k].ok:
            raise CommandError(messages.image_unavailable(parent, k))
        reference = ReferenceSource(job_id=parent.id, index=k)
        single = replace(parent.params, count=1, reference=reference)
        if kind in (ActionKind.VARY_SUBTLE, ActionKind.VARY_STRONG):
            weight = SUBTLE_WEIGHT if kind is ActionKind.VARY_SUBTLE else STRONG_WEIGHT
            return replace(single, seed=None, task=Task.IMAGE, reference_weight=weight)
        if kind is ActionKind.UPSCALE:
            limit = 2 * self._config.defaults.max_side
            width, height = parent.params.width * 2, parent.params.height * 2
            if max(width, height) > limit:
                raise CommandError(messages.too_large_to_upscale(parent, limit))
            return replace(
                single,
                seed=parent.results[k].seed,
                task=Task.UPSCALE,
                width=width,
                height=height,
                reference_weight=UPSCALE_WEIGHT,
            )
        if kind is ActionKind.ANIMATE:
            clip = replace(self._config.defaults, width=VIDEO_SIDE, height=VIDEO_SIDE)
            width, height = size_for_aspect_ratio(parent.params.width, parent.params.height, clip)
            return replace(
                single,
                seed=None,
                task=Task.VIDEO,
                seconds=float(DEFAULT_SECONDS),
                width=width,
                height=height,
                reference_weight=UPSCALE_WEIGHT,  # the image is the clip's first frame
            )
        raise CommandError(messages.not_available(kind))

    async def _child(
        self,
        port: ChatPort,
        parent: Job,
        pressed: ActionInvocation | DialogSubmission,
        params: ImagineParams,
        kind: ActionKind,
        index: int | None,
    ) -> None:
        job = await self._intake.persist(
            params,
            key=ChannelKey.of(pressed.conversation),
            thread=pressed.conversation.thread,
            requester=pressed.requester,
            backend=parent.backend,
            parent=parent,
            kind=kind,
            index=index,
        )
        if job is None:
            await tell(port, pressed, messages.save_failed())
            return
        await self._intake.start_in_thread(port, job, pressed)

    async def _open_remix(self, port: ChatPort, parent: Job, action: ActionInvocation) -> None:
        settings = await self._store.get_channel_settings(parent.channel_key)
        defaults = channel_defaults(self._config.defaults, settings)
        text = format_imagine(replace(parent.params, seed=None, reference=None), defaults)
        dialog = Dialog(ActionKind.REMIX, parent.id, "Remix", "Prompt and flags", text)
        try:
            await port.open_dialog(action, dialog)
        except DeliveryError as exc:
            log.info("job %s: the remix dialog could not open: %s", parent.id, exc)
            await tell(port, action, messages.remix_instead(text))

    # -- owner's actions -----------------------------------------------------------------

    def _may_manage(self, job: Job, requester: Requester) -> bool:
        return requester.user_id == job.requester_id or self._config.access.is_admin(requester)

    async def _delete(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        if not self._may_manage(job, action.requester):
            await tell(port, action, messages.not_yours(port.mention(job.requester_id)))
            return
        targets = dict.fromkeys(m for m in (action.message_id, *job.posted_message_ids) if m)
        for message_id in targets:
            try:
                await port.delete_message(job.conversation, message_id)
            except DeliveryError as exc:
                log.info("job %s: delete of %s failed: %s", job.id, message_id, exc)
        for _ in range(WRITE_ATTEMPTS):
            try:
                await self._store.save_job(
                    replace(job, deleted_by=action.requester.user_id), fenced=False
                )
                break
            except StaleJob:
                job = await self._store.get_job(job.id) or job
        log.info("job %s: result deleted by %s", job.id, action.requester.user_id)

    async def _cancel(self, port: ChatPort, job: Job, action: ActionInvocation) -> None:
        """Cancel a queued or running job: written first (compare-and-set, so a result that
        was recorded first wins and one that arrives later is never posted), then the
        service is asked to stop where it can and the local run is stopped."""
        if not self._may_manage(job, action.requester):
            await tell(port, action, messages.only_owner_cancels(port.mention(job.requester_id)))
            return
        cancelled: Job | None = None
        for _ in range(WRITE_ATTEMPTS):
            if job.state.rank >= JobState.COMPLETED.rank:
                await tell(port, action, messages.not_cancellable(job))
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
            await tell(port, action, messages.not_cancellable(job))
            return
        log.info("job %s cancelled by %s", job.id, action.requester.user_id)
        task = self._supervisor.task_of(job.id)
        if task is not None:
            task.cancel()
        self._supervisor.release(job.id)
        backend = self._backends.get(job.backend)
        if backend is not None and job.submission is not None:
            try:
                stopped = await backend.cancel(job.submission)
                log.info("job %s: the service %s", job.id, "stopped it" if stopped else "goes on")
            except Exception:
                log.exception("job %s: asking the service to cancel failed", job.id)
        await self._runner.announce(cancelled)
