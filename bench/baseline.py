"""Mode (d): the original notes' approach, one fixed-interval poll loop per file.

It reuses the real backend for everything but waiting (projects, submit, the safe
download): only the wait differs from the hybrid watcher. Never started, the
``SuperDuperBackend`` it wraps opens no WebSocket."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from bot.backend.errors import AuthRefused, BackendError
from bot.backend.superduper import SuperDuperBackend
from bot.backend.superduper.backend import outcome_of
from bot.backend.superduper.errors import FileNotFound
from bot.backend.superduper.files import FileState, FileStatus, WaitOutcome, WaitResult
from bot.backend.superduper.handles import Submission
from bot.backend.types import (
    BackendStats,
    BackendStatus,
    Capability,
    GenerationRequest,
    Media,
    Outcome,
    Progress,
    ProgressCallback,
    ResultFile,
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

    @property
    def name(self) -> str:
        return self._real.name

    @property
    def label(self) -> str:
        return self._real.label

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self._real.capabilities

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    async def prepare(self, channel: str, *, stale: str | None = None) -> str | None:
        return await self._real.prepare(channel, stale=stale)

    async def plan(self, *, scope: str | None, client_key: str) -> str:
        return await self._real.plan(scope=scope, client_key=client_key)

    async def submit(self, request: GenerationRequest, *, ticket: str) -> str:
        return await self._real.submit(request, ticket=ticket)

    async def wait(
        self, handle: str, *, timeout: float, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        submission = Submission.from_json(handle)
        waits = await asyncio.gather(
            *(self._wait_file(f, timeout, on_progress) for f in submission.file_ids)
        )
        return outcome_of(list(waits), submission.seed)

    async def _wait_file(
        self, file_id: str, timeout: float, on_progress: ProgressCallback | None
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
                await on_progress(Progress(last.progress))
            if last.status is FileStatus.COMPLETED:
                return WaitResult(WaitOutcome.COMPLETED, last)
            if last.status is FileStatus.FAILED:
                return WaitResult(WaitOutcome.FAILED, last, last.error or "failed")

    async def download(self, result: ResultFile) -> Media:
        return await self._real.download(result)

    async def cancel(self, submission: str) -> bool:
        return False

    async def probe(self) -> BackendStatus:
        return await self._real.probe()

    def stats(self) -> BackendStats:
        return self._real.stats()
