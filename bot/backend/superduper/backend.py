"""``ImageBackend`` for the SuperDuper API: the HTTP client plus the hybrid watcher."""

from __future__ import annotations

import random
from types import TracebackType

import httpx

from bot.backend.superduper.client import Sleep, SuperDuperClient, WallClock
from bot.backend.superduper.download import download_image
from bot.backend.superduper.settings import SuperDuperSettings
from bot.backend.superduper.watcher import Connect, HybridWatcher
from bot.backend.types import (
    DownloadedImage,
    GenerationRequest,
    ProgressCallback,
    SubmittedFile,
    WaitResult,
)


class SuperDuperBackend:
    """One per process. ``http`` is shared and owned by the caller (not closed here).

    ``rng`` drives every jitter (retries, polls, reconnects); ``sleep`` is the pause between
    HTTP retries. Both are injectable so tests are deterministic."""

    def __init__(
        self,
        settings: SuperDuperSettings,
        http: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
        connect_factory: Connect | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        self.settings = settings
        self.client = SuperDuperClient(settings, http, rng=rng, sleep=sleep, wall_clock=wall_clock)
        self.watcher = HybridWatcher(
            settings, self.client, rng=rng, connect_factory=connect_factory
        )

    async def start(self) -> None:
        await self.watcher.start()

    async def aclose(self) -> None:
        await self.watcher.aclose()

    async def __aenter__(self) -> SuperDuperBackend:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def create_project(self, *, title: str, idempotency_key: str) -> str:
        return await self.client.create_project(title=title, idempotency_key=idempotency_key)

    async def project_exists(self, project_id: str) -> bool:
        return await self.client.project_exists(project_id)

    async def submit(
        self, request: GenerationRequest, *, project_id: str | None
    ) -> list[SubmittedFile]:
        files = await self.client.submit(request, project_id=project_id)
        self.watcher.note_submitted(f.id for f in files)
        return files

    async def wait(
        self,
        file_id: str,
        project_id: str | None,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> WaitResult:
        """Wait for ``file_id``; ``timeout=None`` means ``settings.default_wait_timeout``."""
        return await self.watcher.wait(
            file_id,
            project_id,
            timeout=self.settings.default_wait_timeout if timeout is None else timeout,
            on_progress=on_progress,
        )

    async def download(self, url: str) -> DownloadedImage:
        return await download_image(self.client, url)
