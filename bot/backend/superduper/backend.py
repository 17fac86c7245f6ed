"""``ImageBackend`` for the SuperDuper API: the HTTP client plus the hybrid watcher.

The channel's scope is its project (the service only sends WebSocket events for files that
belong to one); tickets and handles are ``handles.Submission`` JSON."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Final, TypeVar

import httpx

from bot.backend.errors import AuthRefused, BackendError
from bot.backend.superduper import paths
from bot.backend.superduper.client import Sleep, SuperDuperClient, WallClock
from bot.backend.superduper.download import download_image, download_video
from bot.backend.superduper.errors import FileNotFound
from bot.backend.superduper.files import WaitOutcome, WaitResult
from bot.backend.superduper.handles import Submission
from bot.backend.superduper.payloads import generation_payload
from bot.backend.superduper.settings import SuperDuperSettings
from bot.backend.superduper.watcher import Connect, HybridWatcher
from bot.backend.types import (
    BackendStats,
    BackendStatus,
    Capability,
    GenerationRequest,
    Media,
    Outcome,
    OutcomeStatus,
    Progress,
    ProgressCallback,
    ResultFile,
)

log = logging.getLogger(__name__)

NAME: Final = "superduper"
CAPABILITIES: Final = frozenset(
    {Capability.PROGRESS, Capability.IMAGE_REFERENCES, Capability.VIDEO}
)
_PROBE_FILE: Final = "00000000-0000-4000-8000-000000000000"

T = TypeVar("T")


class SuperDuperBackend:
    """One per process. ``http`` is shared and owned by the caller (not closed here).

    ``rng`` drives every jitter (retries, polls, reconnects); ``sleep`` is the pause between
    HTTP retries, ``reconnect_sleep`` the one between WebSocket connection attempts. All are
    injectable so tests are deterministic."""

    def __init__(
        self,
        settings: SuperDuperSettings,
        http: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
        connect_factory: Connect | None = None,
        reconnect_sleep: Sleep | None = None,
    ) -> None:
        rng = rng if rng is not None else random.Random()
        self.settings = settings
        self.client = SuperDuperClient(settings, http, rng=rng, sleep=sleep, wall_clock=wall_clock)
        self.watcher = HybridWatcher(
            settings,
            self.client,
            rng=rng,
            connect_factory=connect_factory,
            reconnect_sleep=reconnect_sleep,
        )
        self.service = f"SuperDuper at {httpx.URL(settings.base_url).host}"

    @property
    def name(self) -> str:
        return NAME

    @property
    def label(self) -> str:
        return self.service

    @property
    def capabilities(self) -> frozenset[Capability]:
        return CAPABILITIES

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

    # -- the neutral protocol ------------------------------------------------------------

    async def prepare(self, channel: str, *, stale: str | None = None) -> str | None:
        """The channel's project: created with the minimal payload under an idempotency key
        per channel (and per replaced project), so concurrent callers get one project."""
        key = f"imagine-bot:{channel}"
        if stale is not None:
            key += f":replaces:{stale}"
        if stale is not None:
            log.warning("project %s unknown to the service; creating a new one", stale)
        return await self._tagged(
            lambda: self.client.create_project(title=f"imagine-bot {channel}", idempotency_key=key)
        )

    async def plan(self, *, scope: str | None, client_key: str) -> str:
        return Submission(project_id=scope, key=client_key).to_json()

    async def submit(self, request: GenerationRequest, *, ticket: str) -> str:
        planned = Submission.from_json(ticket)
        payload = generation_payload(request, planned.project_id)
        path = paths.generation(request.task)
        files = await self._tagged(
            lambda: self.client.submit(payload, idempotency_key=planned.key, path=path)
        )
        self.watcher.note_submitted(f.id for f in files)
        return Submission(
            project_id=planned.project_id,
            key=planned.key,
            file_ids=tuple(f.id for f in files),
            seed=request.seed,
        ).to_json()

    async def wait(
        self, handle: str, *, timeout: float, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        """Wait for every file of the submission; progress is their average."""
        submission = Submission.from_json(handle)
        file_ids = submission.file_ids
        if not file_ids:
            return Outcome(OutcomeStatus.FAILED, reason="the service returned no image.")
        percents = [0] * len(file_ids)

        def progress_for(index: int) -> Callable[[int], Awaitable[None]] | None:
            if on_progress is None:
                return None
            callback = on_progress

            async def report(percent: int) -> None:
                percents[index] = max(percents[index], min(100, max(0, percent)))
                await callback(Progress(sum(percents) // len(percents)))

            return report

        waits: list[WaitResult] = await asyncio.gather(
            *(
                self.watcher.wait(
                    file_id,
                    submission.project_id,
                    timeout=timeout,
                    on_progress=progress_for(index),
                )
                for index, file_id in enumerate(file_ids)
            )
        )
        return outcome_of(waits, submission.seed)

    async def download(self, result: ResultFile) -> Media:
        if result.url is None:
            raise BackendError("this output has no URL", service=self.service)
        url = result.url
        if (result.content_type or "").startswith("video/"):
            return await self._tagged(lambda: download_video(self.client, url))
        return await self._tagged(lambda: download_image(self.client, url))

    async def cancel(self, submission: str) -> bool:
        """The contract has no cancel: waiting simply stops."""
        return False

    async def probe(self) -> BackendStatus:
        """One authenticated status request (one attempt) for a file that cannot exist: a
        404 means reachable and our token accepted."""
        try:
            await self.client.file_status(_PROBE_FILE, attempts=1)
        except FileNotFound:
            pass  # the expected answer
        except AuthRefused:
            return BackendStatus(
                False, False, f"{self.service} refused SUPERDUPER_TOKEN (check the token)"
            )
        except BackendError as exc:
            return BackendStatus(
                False,
                False,
                f"{self.service} is not answering ({type(exc).__name__}); check SUPERDUPER_URL",
            )
        realtime = self.watcher.connected
        mode = "live events" if realtime else "polling"
        return BackendStatus(True, realtime, f"{self.service} reachable ({mode})")

    def stats(self) -> BackendStats:
        w = self.watcher
        return BackendStats(w.connected, w.status_polls, w.events_received, w.connections)

    # -- internals -------------------------------------------------------------------------

    async def _tagged(self, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``; any backend error leaves naming this service and its setting."""
        try:
            return await call()
        except BackendError as exc:
            exc.service = exc.service or self.service
            exc.setting = exc.setting or (
                "SUPERDUPER_TOKEN" if isinstance(exc, AuthRefused) else "SUPERDUPER_URL"
            )
            raise


def outcome_of(waits: list[WaitResult], seed: int | None) -> Outcome:
    """One neutral outcome from the per-file waits (each image with its own seed)."""
    results = []
    for index, wait in enumerate(waits):
        file = wait.file
        own_seed = file.seed if file is not None and file.seed is not None else None
        if own_seed is None and seed is not None:
            own_seed = seed + index
        if wait.outcome is WaitOutcome.COMPLETED and file is not None and file.url:
            results.append(ResultFile(file.url, own_seed, file.content_type))
        else:
            reason = wait.reason or "the generation failed"
            if wait.outcome is WaitOutcome.TIMED_OUT:
                reason = "it did not finish in time"
            results.append(ResultFile(None, own_seed, None, error=reason))
    if any(w.outcome is WaitOutcome.TIMED_OUT for w in waits):
        return Outcome(OutcomeStatus.TIMED_OUT, tuple(results), "timed out")
    if any(r.ok for r in results):
        return Outcome(OutcomeStatus.COMPLETED, tuple(results))
    reason = next((w.reason for w in waits if w.reason), "the generation failed.")
    return Outcome(OutcomeStatus.FAILED, tuple(results), reason)
