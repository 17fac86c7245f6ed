"""The SuperDuper emulator and backend for tests: fast knobs and timings, and driving the
backend at the level of its service's files (for tests of the client, the watcher and the
emulator behind them)."""

from __future__ import annotations

import itertools

from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings
from bot.backend.superduper.download import download_image
from bot.backend.superduper.files import PercentCallback, SubmittedFile, WaitResult
from bot.backend.superduper.handles import Submission
from bot.backend.superduper.payloads import generation_payload
from bot.backend.types import GenerationRequest, Media
from bot.jobs import Job
from emulator.superduper import Emulator, EmulatorConfig

TOKEN = "test-service-token-0123456789"

FAST_EMULATOR = dict(gen_time=(0.05, 0.15))


def emulator_config(**knobs: object) -> EmulatorConfig:
    return EmulatorConfig(token=TOKEN, **{**FAST_EMULATOR, **knobs})  # type: ignore[arg-type]


def fast_service(emulator: Emulator, **overrides: object) -> SuperDuperSettings:
    """Client timings scaled down so a whole job takes a fraction of a second."""
    knobs: dict[str, object] = dict(
        expected_generation_time=0.05,
        poll_interval_min=0.05,
        poll_interval_cap=0.2,
        safety_net_poll=0.5,
        reconcile_spread=0.05,
        reconnect_floor=0.05,
        reconnect_cap=0.5,
        healthy_after=0.5,
        retry_base=0.01,
        retry_cap=0.05,
        request_timeout=5.0,
    )
    knobs.update(overrides)
    return SuperDuperSettings(base_url=emulator.base_url, token=TOKEN, **knobs)  # type: ignore[arg-type]


def file_ids(job: Job) -> tuple[str, ...]:
    """The service's file ids of a SuperDuper job (from its persisted handle)."""
    return Submission.from_json(job.submission).file_ids if job.submission else ()


def project_of(job: Job) -> str | None:
    return Submission.from_json(job.submission).project_id if job.submission else job.scope


class FileApi:
    """The SuperDuper backend at the level of files (its client and watcher), as the
    service-specific tests drive it; ``backend`` is the real ``SuperDuperBackend``."""

    def __init__(self, backend: SuperDuperBackend) -> None:
        self.backend = backend
        self.client = backend.client
        self.watcher = backend.watcher
        self.settings = backend.settings
        self._keys = itertools.count(1)

    async def create_project(self, *, title: str, idempotency_key: str) -> str:
        return await self.client.create_project(title=title, idempotency_key=idempotency_key)

    async def project_exists(self, project_id: str) -> bool:
        return await self.client.project_exists(project_id)

    async def submit(
        self, request: GenerationRequest, *, project_id: str | None, key: str | None = None
    ) -> list[SubmittedFile]:
        files = await self.client.submit(
            generation_payload(request, project_id),
            idempotency_key=key or f"test-{id(self)}-{next(self._keys)}",
        )
        self.watcher.note_submitted(f.id for f in files)
        return files

    async def wait(
        self,
        file_id: str,
        project_id: str | None,
        *,
        timeout: float | None = None,
        on_progress: PercentCallback | None = None,
    ) -> WaitResult:
        limit = self.settings.default_wait_timeout if timeout is None else timeout
        return await self.watcher.wait(file_id, project_id, timeout=limit, on_progress=on_progress)

    async def download(self, url: str) -> Media:
        return await download_image(self.client, url)

    async def aclose(self) -> None:
        await self.backend.aclose()


def result_url(job: Job, index: int) -> str:
    """The service URL of a job's ``index``-th output."""
    url = job.results[index].url
    assert url is not None, f"output {index} of job {job.id} has no URL"
    return url
