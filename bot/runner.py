"""Drives one job through its persisted state machine until it is terminal.

Each step writes the new state to the store before the side effect that depends on it,
so a job resumed after a crash continues at the step it had reached:

* ``accepted``: the channel's backend scope is resolved → ``prepared``;
* ``prepared``: the backend plans the submission (host, idempotency key) → ``submitting``,
  written *before* the service is asked, so a resume recovers the earlier request;
* ``submitting``: the request is sent → ``submitted`` with the backend's handle;
* ``submitted``: the backend waits (events and polls) → ``completed`` with the outputs;
* ``completed``: each output is posted and recorded in one shielded step → ``posted``.

The deadline is checked before anything is paid for. Endings are announced after they
are written, and marked ``notified`` once the requester was told, so a crash in between
only repeats the notice."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Final

from bot import messages, results
from bot.backend.errors import (
    AuthRefused,
    BackendError,
    BackendUnavailable,
    DownloadRefused,
    InvalidRequest,
    ResultLost,
    ScopeLost,
    Unsupported,
)
from bot.backend.protocol import ImageBackend
from bot.backend.types import (
    Capability,
    GenerationRequest,
    Media,
    OutcomeStatus,
    Progress,
    Task,
)
from bot.chat import (
    Action,
    ActionKind,
    ChatPort,
    Conversation,
    DeliveryError,
    ThreadHandle,
    Upload,
)
from bot.clock import Clock
from bot.config import BotConfig
from bot.critical import CriticalSections
from bot.jobs import Job, JobState
from bot.media.fit import fit_to_limit
from bot.media.grid import compose_grid
from bot.media.images import EXTENSIONS
from bot.media.video import EXTENSIONS as VIDEO_EXTENSIONS
from bot.media.video import VideoError, first_frame, shrink_video
from bot.references import References, ReferenceUnavailable
from bot.scopes import ScopeResolver
from bot.store import JobStore
from bot.telemetry import NullTelemetry, Telemetry

log = logging.getLogger(__name__)

FAILURE_STATUS: Final = {
    JobState.FAILED: "❌ failed",
    JobState.TIMED_OUT: "⌛ timed out",
    JobState.UNDELIVERABLE: "❌ failed",
}


def backend_reason(exc: BackendError) -> str:
    """A person-readable reason for a backend failure, naming the service and the setting
    an admin would check (never a secret, never a stack)."""
    service = exc.service or "the image service"
    setting = f" (an admin can check {exc.setting})" if exc.setting else ""
    if isinstance(exc, AuthRefused):
        return (
            f"{service} refused the bot's credentials — an admin needs to check "
            f"{exc.setting or 'its credentials'}."
        )
    if isinstance(exc, BackendUnavailable):
        return f"{service} is not answering right now{setting}. Please try again in a few minutes."
    if isinstance(exc, InvalidRequest):
        return f"{service} rejected the request: {exc}"
    if isinstance(exc, ResultLost):
        return f"{service} lost track of this job (it may have been restarted)."
    if isinstance(exc, DownloadRefused):
        return f"the result could not be fetched safely: {exc}"
    if isinstance(exc, ScopeLost):
        return f"{service} does not know this channel's project, even after recreating it."
    if isinstance(exc, Unsupported):
        return str(exc)
    return f"{service} failed: {exc}"


@dataclass(frozen=True, slots=True)
class ResultCard:
    """A result as it is posted: the file, its caption and buttons, its dedupe key."""

    upload: Upload
    caption: str
    actions: tuple[Action, ...]
    dedupe_key: str


def client_key(job: Job) -> str:
    """The idempotency key of a job's submission (a new one after its scope was replaced)."""
    return f"imagine-bot:{job.id}" + (f":{job.attempts}" if job.attempts else "")


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        backends: Mapping[str, ImageBackend],
        scopes: ScopeResolver,
        config: BotConfig,
        clock: Clock,
        chat_for: Callable[[str], ChatPort],
        critical: CriticalSections,
        references: References,
        telemetry: Telemetry | None = None,
    ) -> None:
        self._references = references
        self._telemetry: Telemetry = telemetry or NullTelemetry()
        self._store = store
        self._backends = backends
        self._scopes = scopes
        self._config = config
        self._clock = clock
        self._chat_for = chat_for
        self._critical = critical

    async def save(self, job: Job, **changes: object) -> Job:
        """Write ``job`` with ``changes`` (compare-and-set: ``StaleJob`` if it moved on)."""
        updated = replace(job, updated_at=self._clock.now(), **changes)  # type: ignore[arg-type]
        saved = await self._store.save_job(updated)
        if "state" in changes:
            log.info("job %s → %s", job.id, saved.state.value)
            self._telemetry.job_state(saved.backend, saved.state)
        return saved

    async def run(self, job: Job) -> Job:
        """Advance ``job`` until it is terminal and its ending was announced."""
        if job.state is JobState.SUBMITTING:
            log.warning(
                "job %s resumes a submission that may already have reached the service; "
                "its idempotency key lets the service answer with the earlier request "
                "(a service that ignores the key generates once more)",
                job.id,
            )
        if not job.state.terminal and self.backend_of(job) is None:
            job = await self.fail(job, JobState.FAILED, messages.backend_missing(job.backend))
        steps = {
            JobState.ACCEPTED: self._prepare,
            JobState.PREPARED: self._plan,
            JobState.SUBMITTING: self._submit,
            JobState.SUBMITTED: self._watch,
            JobState.COMPLETED: self._deliver,
        }
        while not job.state.terminal:
            job = await steps[job.state](job)
        if job.needs_notice:
            job = await self.announce(job)
        return job

    def backend_of(self, job: Job) -> ImageBackend | None:
        return self._backends.get(job.backend)

    # -- steps -------------------------------------------------------------------------

    async def _prepare(self, job: Job) -> Job:
        if self._overdue(job):
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        backend = self._backend(job)
        try:
            scope = await self._scopes.scope_for(backend, job.channel_key)
        except BackendError as exc:
            return await self._backend_failed(job, exc)
        return await self.save(job, state=JobState.PREPARED, scope=scope)

    async def _plan(self, job: Job) -> Job:
        if self._overdue(job):  # nothing paid for yet: give up before spending
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        backend = self._backend(job)
        try:
            ticket = await backend.plan(scope=job.scope, client_key=client_key(job))
        except BackendError as exc:
            return await self._backend_failed(job, exc)
        return await self.save(job, state=JobState.SUBMITTING, submission=ticket)

    async def _submit(self, job: Job) -> Job:
        if self._overdue(job):
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        backend = self._backend(job)
        assert job.submission is not None
        try:
            try:
                request = await self._request(job)
            except ReferenceUnavailable as exc:
                return await self.fail(job, JobState.FAILED, str(exc))
            try:
                handle = await backend.submit(request, ticket=job.submission)
            except ScopeLost:
                if job.attempts:
                    raise
                scope = await self._scopes.replace(backend, job.channel_key, job.scope)
                retry = replace(job, attempts=job.attempts + 1)
                ticket = await backend.plan(scope=scope, client_key=client_key(retry))
                job = await self.save(job, scope=scope, submission=ticket, attempts=retry.attempts)
                handle = await backend.submit(request, ticket=ticket)
        except BackendError as exc:
            return await self._backend_failed(job, exc)
        return await self.save(job, state=JobState.SUBMITTED, submission=handle)

    async def _watch(self, job: Job) -> Job:
        remaining = self._remaining(job)
        if remaining <= 0:
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        backend = self._backend(job)
        assert job.submission is not None
        last_edit = float("-inf")
        shown = -1

        async def on_progress(progress: Progress) -> None:
            nonlocal last_edit, shown
            now = self._clock.monotonic()
            percent = min(100, max(0, progress.percent))
            if percent > shown and now - last_edit >= self._config.progress_interval:
                last_edit, shown = now, percent  # throttled: edits stay sparse
                await self.set_status(job, messages.progress(percent))

        try:
            outcome = await backend.wait(job.submission, timeout=remaining, on_progress=on_progress)
        except BackendError as exc:
            return await self._backend_failed(job, exc)
        if any(r.ok for r in outcome.results):
            return await self.save(job, state=JobState.COMPLETED, results=outcome.results)
        if outcome.status is OutcomeStatus.TIMED_OUT:
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        reason = outcome.reason or "the generation failed."
        return await self.fail(
            job, JobState.FAILED, f"{backend.label} could not generate it: {reason}"
        )

    async def _deliver(self, job: Job) -> Job:
        """Post the outputs: one image with its buttons, or a batch as one numbered grid.
        The post is recorded in the same shielded step, so a restart never repeats it."""
        port = self._chat_for(job.platform)
        started = self._clock.monotonic()
        if not job.posted_message_ids:
            try:
                card = await self.result_card(port, job, job.conversation)
            except BackendError as exc:
                return await self._backend_failed(job, exc)
            if self._store.shared:
                # Replicas: prove this process still holds the job, for a whole lease
                # from now, before the one step no fence can undo.
                job = await self.save(job)
            try:
                job = await self._critical.run(
                    self._post_and_record(
                        port, job, card.upload, card.caption, card.actions, card.dedupe_key
                    )
                )
            except DeliveryError as exc:
                return await self.fail(job, JobState.UNDELIVERABLE, str(exc))
        complete = all(r.ok for r in job.results)
        job = await self.save(job, state=JobState.POSTED, notified=complete)
        self._telemetry.posted(job.backend, self._clock.monotonic() - started)
        await self.set_status(job, messages.done(self._clock.now() - job.created_at))
        return job

    async def result_card(self, port: ChatPort, job: Job, where: Conversation) -> ResultCard:
        """The job's result as posted (downloaded again from its backend): a single image
        or video with its buttons, or a batch's grid. ``BackendError`` if it can't be had."""
        backend = self._backend(job)
        made = [i for i, r in enumerate(job.results) if r.ok]
        media = [(i, await backend.download(job.results[i])) for i in made]
        elapsed = (job.updated_at if job.state.terminal else self._clock.now()) - job.created_at
        if len(job.results) > 1:
            grid, width, height = await asyncio.to_thread(
                compose_grid, [(i, m.data) for i, m in media], len(job.results)
            )
            seeds = [(i, job.results[i].seed) for i, _ in media]
            return ResultCard(
                await self._fit(
                    port, where, Media(grid, "image/png", "PNG", width, height), f"{job.id}-grid"
                ),
                messages.grid_caption(job, elapsed, seeds),
                tuple(results.grid_actions(job, backend.capabilities, made)),
                f"{job.id}:grid",
            )
        [(index, single)] = media
        caption = messages.caption(job, elapsed, index, 1, job.results[index].seed)
        stem = f"imagine-{job.id}-{index + 1}"
        if single.is_video:
            upload, note = await self._fit_video(port, where, single, stem)
            actions = results.video_actions(job)
            return ResultCard(upload, caption + note, tuple(actions), f"{job.id}:{index}")
        actions = results.single_actions(job, backend.capabilities, index)
        upload = await self._fit(port, where, single, stem)
        return ResultCard(upload, caption, tuple(actions), f"{job.id}:{index}")

    async def _post_and_record(
        self,
        port: ChatPort,
        job: Job,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> Job:
        """Post one result and record it; shielded, so a shutdown never splits the two."""
        message_id = await self._post(port, job, upload, caption, actions, dedupe_key)
        return await self.save(job, posted_message_ids=(*job.posted_message_ids, message_id))

    async def _post(
        self,
        port: ChatPort,
        job: Job,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        attempt = 0
        while True:
            attempt += 1
            try:
                return await port.post_media(job.conversation, upload, caption, actions, dedupe_key)
            except DeliveryError as exc:
                if exc.permanent or attempt >= self._config.delivery_attempts:
                    raise
                log.warning("job %s: posting failed (%s); retrying", job.id, exc)
                await asyncio.sleep(self._config.delivery_retry_delay * attempt)

    async def _fit(self, port: ChatPort, where: Conversation, media: Media, stem: str) -> Upload:
        """The output as a file within the platform's upload limit (re-encoded when over)."""
        extension = EXTENSIONS.get(media.format, "png")
        limit = port.upload_limit(where)
        if len(media.data) <= limit:
            return Upload(media.data, f"{stem}.{extension}", media.content_type)
        fitted = await asyncio.to_thread(fit_to_limit, media.data, f"{stem}.{extension}", limit)
        log.info("re-encoded a %d-byte image to fit %d bytes", len(media.data), limit)
        return Upload(fitted.data, fitted.filename, fitted.content_type)

    async def _fit_video(
        self, port: ChatPort, where: Conversation, media: Media, stem: str
    ) -> tuple[Upload, str]:
        """A clip within the upload limit: as it is, re-encoded smaller, or (when even that
        is too big) its first frame as a poster, with a note saying so."""
        limit = port.upload_limit(where)
        extension = VIDEO_EXTENSIONS.get(media.format, "mp4")
        if len(media.data) <= limit:
            return Upload(media.data, f"{stem}.{extension}", media.content_type), ""
        try:
            smaller = await shrink_video(media.data, limit)
            if smaller is not None:
                log.info("re-encoded a %d-byte clip to fit %d bytes", len(media.data), limit)
                return Upload(smaller, f"{stem}.mp4", "video/mp4"), ""
            poster = await first_frame(media.data)
        except VideoError as exc:
            raise DeliveryError(
                f"the clip could not be prepared for posting: {exc}", permanent=True
            ) from None
        upload = await self._fit(
            port, where, Media(poster.png, "image/png", "PNG", poster.width, poster.height), stem
        )
        return upload, messages.poster_note(len(media.data), limit)

    async def _request(self, job: Job) -> GenerationRequest:
        params = job.params
        assert params.seed is not None
        task = params.task
        if task is Task.UPSCALE and Capability.UPSCALE not in self._backend(job).capabilities:
            task = Task.IMAGE  # an image-to-image pass at twice the size, following closely
        return GenerationRequest(
            prompt=params.prompt,
            seed=params.seed,
            negative_prompt=params.negative_prompt,
            width=params.width,
            height=params.height,
            steps=params.steps,
            count=params.count,
            style=params.style,
            task=task,
            reference=await self._references.image_for(job),
            seconds=params.seconds,
        )

    # -- telling people ----------------------------------------------------------------

    async def _backend_failed(self, job: Job, exc: BackendError) -> Job:
        self._telemetry.backend_error(job.backend, type(exc).__name__)
        return await self.fail(job, JobState.FAILED, backend_reason(exc))

    async def fail(self, job: Job, state: JobState, reason: str) -> Job:
        """Persist a terminal ending, then make sure the requester hears about it."""
        job = await self.save(job, state=state, error=reason, notified=False)
        return await self.announce(job)

    async def announce(self, job: Job) -> Job:
        """Tell the requester how the job ended (in its thread, else privately) and mark it
        notified. If no message got through, it stays unnotified and is retried on resume."""
        port = self._chat_for(job.platform)
        text, actions = self._notice(port, job)
        if job.state in FAILURE_STATUS:
            await self.set_status(job, FAILURE_STATUS[job.state])
        elif job.state is JobState.CANCELLED:
            by = port.mention(job.cancelled_by) if job.cancelled_by else "someone"
            await self.set_status(job, messages.cancelled_status(by))
        delivered = False
        if job.state is not JobState.UNDELIVERABLE and job.thread is not None:
            try:
                await port.post_text(job.conversation, text, actions)
                delivered = True
            except DeliveryError as exc:
                log.warning("job %s: could not post its ending in the thread: %s", job.id, exc)
        if not delivered:
            delivered = await self.notify_requester(job, text)
        if not delivered:
            return job
        return await self.save(job, notified=True)

    def _notice(self, port: ChatPort, job: Job) -> tuple[str, tuple[Action, ...]]:
        reroll = (Action(ActionKind.REROLL, job.id, "Re-roll"),)
        if job.state is JobState.POSTED:
            failed = [(i, r.error or "failed") for i, r in enumerate(job.results) if not r.ok]
            return messages.partial(job, failed, len(job.results)), reroll
        if job.state is JobState.CANCELLED:
            by = port.mention(job.cancelled_by) if job.cancelled_by else "someone"
            return messages.cancelled(job, by), ()
        if job.state is JobState.TIMED_OUT:
            return messages.timed_out(job, self._config.job_timeout / 60), reroll
        if job.state is JobState.UNDELIVERABLE:
            return messages.undeliverable(job, job.error or "the platform refused it"), ()
        return messages.failed(job, job.error or "it failed"), reroll

    async def notify_requester(self, job: Job, text: str, invocation: object = None) -> bool:
        """Tell the requester privately; True when the platform took the message."""
        port = self._chat_for(job.platform)
        try:
            await port.notify_user(job.conversation, job.requester_id, text, invocation)
        except Exception as exc:  # the last resort: never let telling someone crash a job
            log.warning("job %s: could not tell the requester privately either: %s", job.id, exc)
            return False
        return True

    async def set_status(self, job: Job, state_text: str) -> None:
        """Edit the job's status message (with Cancel while it may still be cancelled);
        best effort: a failed edit loses nothing."""
        if job.status_message_id is None:
            return
        port = self._chat_for(job.platform)
        handle = ThreadHandle(job.conversation, job.status_message_id)
        try:
            await port.edit_status(
                handle,
                messages.status_line(port.mention(job.requester_id), job, state_text),
                status_actions(job),
            )
        except DeliveryError as exc:
            log.info("job %s: status edit failed: %s", job.id, exc)

    # -- helpers -----------------------------------------------------------------------

    def _backend(self, job: Job) -> ImageBackend:
        backend = self.backend_of(job)
        assert backend is not None, "run() fails jobs whose backend is not configured"
        return backend

    def _remaining(self, job: Job) -> float:
        return job.created_at + self._config.job_timeout - self._clock.now()

    def _overdue(self, job: Job) -> bool:
        return self._remaining(job) <= 0


def status_actions(job: Job) -> tuple[Action, ...]:
    """Cancel is offered until the outputs are known (then they are being posted)."""
    if job.state.rank < JobState.COMPLETED.rank:
        return (Action(ActionKind.CANCEL, job.id, "Cancel"),)
    return ()
