"""Mode (d): the original notes' approach, one fixed-interval poll loop per job.

It reuses the real client for everything but waiting (submit, status, the safe download):
only the wait differs from the hybrid watcher. Never started, the ``SuperDuperBackend``
it wraps opens no WebSocket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.backend.errors import AuthRefused, BackendError, FileNotFound
from bot.backend.superduper import SuperDuperBackend
from bot.backend.types import (
    DownloadedImage,
    FileState,
    FileStatus,
    GenerationRequest,
    ProgressCallback,
    SubmittedFile,
    WaitOutcome,
    WaitResult,
)


class FixedIntervalPollingBackend:
    """``ImageBackend`` whose ``wait`` sleeps ``interval`` then asks for the status, forever."""

    def __init__(
        self,
        real: SuperDuperBackend,
        *,
        interval: float = 2.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._real = real
        self._interval = interval
        self._sleep = sleep
        self._clock = clock

    async def create_project(self, *, title: str, idempotency_key: str) -> str:
        return await self._real.create_project(title=title, idempotency_key=idempotency_key)

    async def project_exists(self, project_id: str) -> bool:
        return await self._real.project_exists(project_id)

    async def submit(
        self, request: GenerationRequest, *, project_id: str | None
    ) -> list[SubmittedFile]:
        return await self._real.submit(request, project_id=project_id)

    async def wait(
        self,
        file_id: str,
        project_id: str | None,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> WaitResult:
        deadline = self._clock() + timeout
        last: FileState | None = None
        while True:
            remaining = deadline - self._clock()
            if remaining <= 0:
                return WaitResult(WaitOutcome.TIMED_OUT, last, f"no result after {timeout:g}s")
            await self._sleep(min(self._interval, remaining))
            try:
                last = await self._real.client.file_status(file_id)
            except (FileNotFound, AuthRefused) as exc:
                return WaitResult(WaitOutcome.FAILED, last, str(exc))
            except BackendError:
                continue
            if on_progress is not None:
                await on_progress(last.progress)
            if last.status is FileStatus.COMPLETED:
                return WaitResult(WaitOutcome.COMPLETED, last)
            if last.status is FileStatus.FAILED:
                return WaitResult(WaitOutcome.FAILED, last, last.error or "failed")

    async def download(self, url: str) -> DownloadedImage:
        return await self._real.download(url)
