"""Drives one job through its persisted state machine until it is terminal.

Each step writes the new state to the store before the side effect that depends on
it, so a job resumed after a crash continues at the step it had reached."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import Final

from bot import messages
from bot.backend.errors import (
    AuthRefused,
    BackendError,
    BackendUnavailable,
    DownloadRefused,
    FileNotFound,
    InvalidRequest,
    ProjectNotFound,
)
from bot.backend.protocol import ImageBackend
from bot.backend.types import (
    DownloadedImage,
    GenerationRequest,
    ProgressCallback,
    WaitOutcome,
    WaitResult,
)
from bot.chat import Action, ActionKind, ChatPort, DeliveryError, ThreadHandle
from bot.clock import Clock
from bot.config import BotConfig
from bot.jobs import Job, JobState
from bot.projects import ProjectResolver
from bot.store import JobStore

log = logging.getLogger(__name__)

FILE_EXTENSIONS: Final = MappingProxyType({"PNG": "png", "JPEG": "jpg", "WEBP": "webp"})


def generation_request(job: Job) -> GenerationRequest:
    params = job.params
    assert params.seed is not None, "a persisted job always has a seed"
    return GenerationRequest(
        prompt=params.prompt,
        negative_prompt=params.negative_prompt,
        seed=params.seed,
        width=params.width,
        height=params.height,
        steps=params.steps,
        batch_size=params.count,
        style_name=params.style,
    )


def backend_reason(exc: BackendError) -> str:
    """A person-readable reason for a backend failure (no secrets, no stack)."""
    if isinstance(exc, AuthRefused):
        return (
            "the image service refused the bot's credentials — "
            "an admin needs to check SUPERDUPER_TOKEN."
        )
    if isinstance(exc, BackendUnavailable):
        return "the image service is not answering right now. Please try again in a few minutes."
    if isinstance(exc, InvalidRequest):
        return f"the image service rejected the request: {exc}"
    if isinstance(exc, FileNotFound):
        return "the image service lost track of this image (it may have been restarted)."
    if isinstance(exc, DownloadRefused):
        return f"the result could not be fetched safely: {exc}"
    if isinstance(exc, ProjectNotFound):
        return "the image service does not know this channel's project, even after recreating it."
    return f"the image service failed: {exc}"


class JobRunner:
    def __init__(
        self,
        *,
        store: JobStore,
        backend: ImageBackend,
        projects: ProjectResolver,
        config: BotConfig,
        clock: Clock,
        chat_for: Callable[[str], ChatPort],
    ) -> None:
        self._store = store
        self._backend = backend
        self._projects = projects
        self._config = config
        self._clock = clock
        self._chat_for = chat_for

    async def save(self, job: Job, **changes: object) -> Job:
        updated = replace(job, updated_at=self._clock.now(), **changes)  # type: ignore[arg-type]
        await self._store.save_job(updated)
        if "state" in changes:
            log.info("job %s → %s", job.id, updated.state.value)
        return updated

    async def run(self, job: Job) -> Job:
        """Advance ``job`` until it is terminal; failures end as a message in its thread."""
        steps = {
            JobState.ACCEPTED: self._prepare_project,
            JobState.PROJECT_READY: self._submit,
            JobState.SUBMITTED: self._watch,
            JobState.COMPLETED: self._deliver,
        }
        while not job.state.terminal:
            job = await steps[job.state](job)
        return job

    # -- steps -------------------------------------------------------------------------

    async def _prepare_project(self, job: Job) -> Job:
        try:
            project_id = await self._projects.project_for(job.channel_key)
        except BackendError as exc:
            return await self.fail(job, JobState.FAILED, backend_reason(exc))
        return await self.save(job, state=JobState.PROJECT_READY, project_id=project_id)

    async def _submit(self, job: Job) -> Job:
        request = generation_request(job)
        try:
            try:
                files = await self._backend.submit(request, project_id=job.project_id)
            except ProjectNotFound:
                assert job.project_id is not None
                log.warning(
                    "job %s: project %s unknown to the service; recreating", job.id, job.project_id
                )
                project_id = await self._projects.replace(job.channel_key, job.project_id)
                job = await self.save(job, project_id=project_id, attempts=job.attempts + 1)
                files = await self._backend.submit(request, project_id=project_id)
        except BackendError as exc:
            return await self.fail(job, JobState.FAILED, backend_reason(exc))
        if not files:
            return await self.fail(job, JobState.FAILED, "the image service returned no image.")
        return await self.save(job, state=JobState.SUBMITTED, file_ids=tuple(f.id for f in files))

    async def _watch(self, job: Job) -> Job:
        remaining = job.created_at + self._config.job_timeout - self._clock.now()
        if remaining <= 0:
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        percents = [0] * len(job.file_ids)
        last_edit = float("-inf")

        async def on_progress(index: int, percent: int) -> None:
            nonlocal last_edit
            percents[index] = max(percents[index], min(100, max(0, percent)))
            now = self._clock.monotonic()
            if now - last_edit >= self._config.progress_interval:  # throttle status edits
                last_edit = now
                await self.set_status(job, messages.progress(sum(percents) // len(percents)))

        def progress_for(index: int) -> ProgressCallback:
            async def report(percent: int) -> None:
                await on_progress(index, percent)

            return report

        results: list[WaitResult] = await asyncio.gather(
            *(
                self._backend.wait(
                    file_id,
                    job.project_id,
                    timeout=remaining,
                    on_progress=progress_for(index),
                )
                for index, file_id in enumerate(job.file_ids)
            )
        )
        urls = tuple(
            r.file.url
            for r in results
            if r.outcome is WaitOutcome.COMPLETED and r.file is not None and r.file.url
        )
        if urls:
            return await self.save(job, state=JobState.COMPLETED, result_urls=urls)
        if any(r.outcome is WaitOutcome.TIMED_OUT for r in results):
            return await self.fail(job, JobState.TIMED_OUT, "timed out")
        reason = next((r.reason for r in results if r.reason), "the generation failed.")
        return await self.fail(
            job, JobState.FAILED, f"the image service could not generate it: {reason}"
        )

    async def _deliver(self, job: Job) -> Job:
        port = self._chat_for(job.platform)
        for index, url in enumerate(job.result_urls):
            if index < len(job.posted_message_ids):
                continue  # posted before a restart
            try:
                image = await self._backend.download(url)
            except BackendError as exc:
                return await self.fail(job, JobState.FAILED, backend_reason(exc))
            try:
                message_id = await self._post_image(port, job, image, index)
            except DeliveryError as exc:
                return await self.fail(job, JobState.UNDELIVERABLE, str(exc))
            job = await self.save(job, posted_message_ids=(*job.posted_message_ids, message_id))
        job = await self.save(job, state=JobState.POSTED)
        await self.set_status(job, messages.done(self._clock.now() - job.created_at))
        return job

    async def _post_image(
        self, port: ChatPort, job: Job, image: DownloadedImage, index: int
    ) -> str:
        total = len(job.result_urls)
        caption = messages.caption(job, self._clock.now() - job.created_at, index, total)
        actions = (
            Action(ActionKind.REROLL, job.id, "Re-roll"),
            Action(ActionKind.DELETE, job.id, "Delete"),
        )
        extension = FILE_EXTENSIONS.get(image.format, "png")
        filename = f"imagine-{job.id}-{index + 1}.{extension}"
        attempt = 0
        while True:
            attempt += 1
            try:
                return await port.post_image(
                    job.conversation, image.data, filename, caption, actions, f"{job.id}:{index}"
                )
            except DeliveryError as exc:
                if exc.permanent or attempt >= self._config.delivery_attempts:
                    raise
                log.warning("job %s: posting failed (%s); retrying", job.id, exc)
                await asyncio.sleep(self._config.delivery_retry_delay * attempt)

    # -- telling people ----------------------------------------------------------------

    async def fail(self, job: Job, state: JobState, reason: str) -> Job:
        """Persist a terminal failure, then make sure the requester hears about it."""
        job = await self.save(job, state=state, error=reason)
        port = self._chat_for(job.platform)
        if state is JobState.TIMED_OUT:
            text = messages.timed_out(job, self._config.job_timeout / 60)
        elif state is JobState.UNDELIVERABLE:
            text = messages.undeliverable(job, reason)
        else:
            text = messages.failed(job, reason)
        await self.set_status(
            job, "❌ failed" if state is not JobState.TIMED_OUT else "⌛ timed out"
        )
        if state is not JobState.UNDELIVERABLE and job.thread is not None:
            try:
                await port.post_text(job.conversation, text)
                return job
            except DeliveryError as exc:
                log.warning("job %s: could not post the failure in its thread: %s", job.id, exc)
        await self.notify_requester(job, text)
        return job

    async def notify_requester(self, job: Job, text: str, invocation: object = None) -> None:
        port = self._chat_for(job.platform)
        try:
            await port.notify_user(job.conversation, job.requester_id, text, invocation)
        except Exception as exc:  # the last resort: never let telling someone crash a job
            log.warning("job %s: could not tell the requester privately either: %s", job.id, exc)

    async def set_status(self, job: Job, state_text: str) -> None:
        """Edit the job's status message; best effort (a failed edit loses nothing)."""
        if job.status_message_id is None:
            return
        port = self._chat_for(job.platform)
        handle = ThreadHandle(job.conversation, job.status_message_id)
        try:
            await port.edit_status(
                handle, messages.status_line(port.mention(job.requester_id), job, state_text)
            )
        except DeliveryError as exc:
            log.info("job %s: status edit failed: %s", job.id, exc)
