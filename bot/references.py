"""A job's reference image, fetched when it is submitted (again after a restart; the bot
never stores image bytes): a result of an earlier job, downloaded through that job's
backend, or a chat attachment, fetched through the platform's adapter. Either way the
bytes pass the same checks as results (byte cap, pixel cap, PNG/JPEG/WebP only)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Final

from bot.backend.errors import BackendError
from bot.backend.protocol import ImageBackend
from bot.backend.types import Media, ReferenceImage
from bot.chat import Attachment, ChatPort, DeliveryError
from bot.jobs import Job
from bot.media.images import inspect_image
from bot.store import JobStore

MAX_ATTACHMENT_BYTES: Final = 25 * 1024 * 1024
MAX_ATTACHMENT_PIXELS: Final = 40_000_000


class ReferenceUnavailable(Exception):
    """The image a job starts from cannot be had; ``str(exc)`` is for the requester."""


class References:
    def __init__(
        self,
        store: JobStore,
        backends: Mapping[str, ImageBackend],
        chat_for: Callable[[str], ChatPort],
    ) -> None:
        self._store = store
        self._backends = backends
        self._chat_for = chat_for

    async def image_for(self, job: Job) -> ReferenceImage | None:
        source = job.params.reference
        if source is None:
            return None
        if source.job_id is not None:
            media = await self.result(source.job_id, source.index)
        else:
            assert source.url is not None
            port = self._chat_for(job.platform)
            media = await self.attachment(port, Attachment(source.url, source.filename or "image"))
        return ReferenceImage(
            media.data, media.content_type, media.width, media.height, job.params.reference_weight
        )

    async def result(self, job_id: str, index: int) -> Media:
        """Image ``index`` of an earlier job, from that job's backend."""
        parent = await self._store.get_job(job_id)
        if parent is None or not 0 <= index < len(parent.results):
            raise ReferenceUnavailable(f"the image it starts from (job `{job_id}`) is gone.")
        result = parent.results[index]
        backend = self._backends.get(parent.backend)
        if not result.ok or backend is None:
            raise ReferenceUnavailable(
                f"image {index + 1} of job `{job_id}` is not available any more."
            )
        try:
            return await backend.download(result)
        except BackendError as exc:
            raise ReferenceUnavailable(
                f"image {index + 1} of job `{job_id}` could not be fetched again: {exc}"
            ) from None

    async def attachment(self, port: ChatPort, attachment: Attachment) -> Media:
        """A user's attached image, checked like a result."""
        try:
            data = await port.fetch_attachment(attachment, MAX_ATTACHMENT_BYTES)
            return await inspect_image(
                data,
                declared_type=attachment.content_type or "",
                max_pixels=MAX_ATTACHMENT_PIXELS,
            )
        except (DeliveryError, BackendError) as exc:
            raise ReferenceUnavailable(
                f"I couldn't use the image you attached ({attachment.filename}): {exc}"
            ) from None
