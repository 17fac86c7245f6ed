"""The one interface the core uses to talk to an image-generation service."""

from __future__ import annotations

from typing import Protocol

from bot.backend.types import (
    DownloadedImage,
    GenerationRequest,
    ProgressCallback,
    SubmittedFile,
    WaitResult,
)


class ImageBackend(Protocol):
    async def create_project(self, *, title: str, idempotency_key: str) -> str:
        """Create a project with the minimal payload; return its id.

        The same ``idempotency_key`` must yield the same project on a retry."""
        ...

    async def project_exists(self, project_id: str) -> bool: ...

    async def submit(
        self, request: GenerationRequest, *, project_id: str | None
    ) -> list[SubmittedFile]:
        """Start a generation. Raises ``ProjectNotFound`` for an unknown project."""
        ...

    async def wait(
        self,
        file_id: str,
        project_id: str | None,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> WaitResult:
        """Wait until the file is terminal or ``timeout`` seconds passed. Never hangs."""
        ...

    async def download(self, url: str) -> DownloadedImage:
        """Fetch a result image, refusing anything unsafe (``DownloadRefused``)."""
        ...
