"""Service drivers: the image service as the core's end-to-end tests see it, one per backend.

A test written against ``ServiceDriver`` runs on either service: it holds, completes or fails
a job's work at the service, asks how many generations a prompt started there, which
reference image (bytes) and weight a job's generation used, and what the service serves for a
result; ``open_harness`` builds the backend for the bot from it. ``open_service(name)``
(``open_superduper``, ``open_comfyui``) starts a fast emulator and yields its driver
(``SERVICES`` names them)."""

from __future__ import annotations

import posixpath
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from types import MappingProxyType
from typing import Any, ClassVar, Final, Generic, TypeVar

import httpx

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.comfyui.settings import CHECKPOINT_SETTING
from bot.backend.protocol import ImageBackend
from bot.backend.retry import Sleep, WallClock
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings, make_http_client
from bot.jobs import Job
from bot.store import ValueStore
from emulator.comfyui import ComfyEmulator
from emulator.superduper import Emulator
from tests.support import comfyui, superduper

B = TypeVar("B", bound=ImageBackend, covariant=True)

SERVICES: Final = ("superduper", "comfyui")
"""The backends the core's shared end-to-end tests run on (their pytest ids)."""


class ServiceDriver(ABC, Generic[B]):
    """One image service (an emulator on loopback) and how to build its backend."""

    name: ClassVar[str]
    """The backend's registry name."""
    fetch_headers: ClassVar[Mapping[str, str]] = MappingProxyType({})
    """What a client sends to fetch a result (the service's credentials)."""

    @abstractmethod
    def open_backend(self, values: ValueStore) -> AbstractAsyncContextManager[B]:
        """A started backend on this service with fast timings (closed on exit); ``values``
        keeps what the backend keeps across restarts (the bot's store)."""

    @abstractmethod
    def hold(self, on: bool = True) -> None:
        """From now on, work started at the service waits for ``complete``/``fail``."""

    @abstractmethod
    async def complete(self, job: Job) -> None:
        """Let the service finish ``job``'s held work now (ComfyUI runs one prompt at a
        time: a job still queued behind another finishes when its turn comes)."""

    @abstractmethod
    async def fail(self, job: Job, message: str) -> None:
        """Make ``job``'s held work fail at the service with ``message``."""

    @abstractmethod
    def fail_generations(self) -> None:
        """From now on, every generation fails at the service."""

    @abstractmethod
    def generations(self, prompt: str) -> int:
        """How many generations of ``prompt`` the service was asked to start."""

    @abstractmethod
    def submissions(self, *, video: bool = False) -> int:
        """Generation requests (for images, or for videos) the service received."""

    @abstractmethod
    def requests(self) -> int:
        """HTTP requests the service received, the live-events socket's handshake aside."""

    @abstractmethod
    def reference_of(self, job: Job) -> tuple[bytes | None, float]:
        """The reference image ``job``'s generation started from (None without one) and its
        weight (0..1: how closely the result follows it)."""

    @abstractmethod
    def working_on(self, job: Job) -> bool:
        """The service still has ``job``'s work running or waiting."""

    @abstractmethod
    def child_env(self) -> dict[str, str]:
        """The environment that points an ``imagine-bot`` process at this service."""

    async def served(self, url: str) -> bytes:
        """The bytes the service serves at a result URL (fetched directly)."""
        async with httpx.AsyncClient(trust_env=False) as http:
            response = await http.get(url, headers=dict(self.fetch_headers))
        response.raise_for_status()
        return response.content


class SuperDuperDriver(ServiceDriver[SuperDuperBackend]):
    name = "superduper"
    fetch_headers = MappingProxyType({"Authorization": f"Bearer {superduper.TOKEN}"})

    def __init__(
        self,
        emulator: Emulator,
        settings: SuperDuperSettings | None = None,
        *,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
        reconnect_sleep: Sleep | None = None,
    ) -> None:
        self.emulator = emulator
        self.settings = settings
        """The client's settings (``superduper.fast_service`` when None)."""
        self.sleep, self.wall_clock, self.reconnect_sleep = sleep, wall_clock, reconnect_sleep
        """Injected into the backend (``None``: the real ones)."""

    @asynccontextmanager
    async def _backend(self) -> AsyncIterator[SuperDuperBackend]:
        settings = self.settings or superduper.fast_service(self.emulator)
        async with make_http_client(settings) as http:
            backend = SuperDuperBackend(
                settings,
                http=http,
                sleep=self.sleep,
                wall_clock=self.wall_clock,
                reconnect_sleep=self.reconnect_sleep,
            )
            await backend.start()
            try:
                yield backend
            finally:
                await backend.aclose()

    def open_backend(self, values: ValueStore) -> AbstractAsyncContextManager[SuperDuperBackend]:
        return self._backend()

    def hold(self, on: bool = True) -> None:
        self.emulator.config.manual_completion = on

    async def complete(self, job: Job) -> None:
        for file_id in superduper.file_ids(job):
            await self.emulator.finish(file_id)

    async def fail(self, job: Job, message: str) -> None:
        for file_id in superduper.file_ids(job):
            await self.emulator.finish(file_id, message)

    def fail_generations(self) -> None:
        self.emulator.config.failure_rate = 1.0

    def generations(self, prompt: str) -> int:
        return self.emulator.counters.generations[prompt]

    def submissions(self, *, video: bool = False) -> int:
        kind = "video" if video else "image"
        return self.emulator.counters.requests[f"POST /api/generation/{kind}"]

    def requests(self) -> int:
        counted = self.emulator.counters.requests
        return sum(counted.values()) - counted["GET /ws"]

    def reference_of(self, job: Job) -> tuple[bytes | None, float]:
        return self.emulator.reference_of(superduper.file_ids(job)[0])

    def working_on(self, job: Job) -> bool:
        files = superduper.file_ids(job)
        return bool(files) and all(
            self.emulator.file_status(f) in ("pending", "processing") for f in files
        )

    def child_env(self) -> dict[str, str]:
        return {"SUPERDUPER_URL": self.emulator.base_url, "SUPERDUPER_TOKEN": superduper.TOKEN}


class ComfyUIDriver(ServiceDriver[ComfyUIBackend]):
    """One ComfyUI host. Its controls are the emulator's: ``manual_completion`` holds a
    sampler after its first step until its prompt is released (or failed) by id."""

    name = "comfyui"

    def __init__(self, emulator: ComfyEmulator, **settings: Any) -> None:
        self.emulator = emulator
        self.settings = settings
        """``ComfyUISettings`` fields over the fast ones (``tests/support/comfyui.py``)."""

    def open_backend(self, values: ValueStore) -> AbstractAsyncContextManager[ComfyUIBackend]:
        return comfyui.open_comfy_backend([self.emulator], values, **self.settings)

    def hold(self, on: bool = True) -> None:
        self.emulator.config.manual_completion = on

    async def complete(self, job: Job) -> None:
        await self._let_go(job, None)

    async def fail(self, job: Job, message: str) -> None:
        await self._let_go(job, message)

    async def _let_go(self, job: Job, failure: str | None) -> None:
        prompt_id = self.prompt_id(job)
        state = self.emulator.state_of(prompt_id)
        assert state is not None, f"job {job.id} never reached the service"
        if state == "done":
            return  # it ended already (e.g. interrupted): nothing is held
        if failure is None:
            found = self.emulator.release(prompt_id)
        else:
            found = self.emulator.fail(prompt_id, failure)
        assert found
        if state == "running":
            await self.emulator.wait_done(prompt_id)

    def fail_generations(self) -> None:
        self.emulator.config.failure_rate = 1.0

    def generations(self, prompt: str) -> int:
        return self.emulator.counters.generations[prompt]

    def submissions(self, *, video: bool = False) -> int:
        return self.emulator.counters.outputs["SaveVideo" if video else "SaveImage"]

    def requests(self) -> int:
        counted = self.emulator.counters.requests
        return sum(counted.values()) - counted["GET /ws"]

    def reference_of(self, job: Job) -> tuple[bytes | None, float]:
        """The ``LoadImage`` file of the job's prompt, and 1 − its sampler's denoise."""
        prompt = self.emulator.prompt_of(self.prompt_id(job))
        assert prompt is not None, f"the service never had job {job.id}"
        image: bytes | None = None
        weight = 1.0
        for node in prompt.values():
            inputs: Mapping[str, Any] = node["inputs"]
            if node["class_type"] == "LoadImage":
                subfolder, name = posixpath.split(str(inputs["image"]))
                image = self.emulator.files.get("input", subfolder, name)
            elif "denoise" in inputs:
                weight = round(1.0 - float(inputs["denoise"]), 2)
        return image, weight

    def working_on(self, job: Job) -> bool:
        return self.emulator.state_of(self.prompt_id(job)) in ("running", "pending")

    def child_env(self) -> dict[str, str]:
        fast = {**comfyui.FAST, **self.settings}
        knobs = {f"COMFYUI_{name.upper()}": str(value) for name, value in fast.items()}
        return {
            **knobs,
            "IMAGINE_BACKEND": "comfyui",
            "COMFYUI_URL": self.emulator.base_url,
            CHECKPOINT_SETTING: comfyui.CHECKPOINT,
        }

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """``GET /history/{prompt_id}``: the entry a client sees (None: not there)."""
        async with httpx.AsyncClient(base_url=self.emulator.base_url, trust_env=False) as http:
            answer = (await http.get(f"/history/{prompt_id}")).json()
        entry: dict[str, Any] | None = answer.get(prompt_id)
        return entry

    @staticmethod
    def prompt_id(job: Job) -> str:
        """The ComfyUI ``prompt_id`` of a planned or submitted job."""
        assert job.submission is not None, f"job {job.id} was not planned"
        return comfyui.prompt_id_of(job.submission)


Service = ServiceDriver[ImageBackend]
"""Either service (what the core's ``service`` fixture gives)."""


@asynccontextmanager
async def open_superduper() -> AsyncIterator[SuperDuperDriver]:
    """A fast SuperDuper emulator on 127.0.0.1:0, and its driver."""
    async with Emulator(superduper.emulator_config()) as emulator:
        yield SuperDuperDriver(emulator)


@asynccontextmanager
async def open_comfyui(**settings: Any) -> AsyncIterator[ComfyUIDriver]:
    """A fast ComfyUI emulator on 127.0.0.1:0, and its driver (``settings``: backend
    settings over the fast ones)."""
    async with ComfyEmulator(comfyui.emulator_config()) as comfy:
        yield ComfyUIDriver(comfy, **settings)


def open_service(name: str) -> AbstractAsyncContextManager[Service]:
    """``open_superduper`` or ``open_comfyui`` by backend name."""
    if name == SuperDuperDriver.name:
        return open_superduper()
    if name == ComfyUIDriver.name:
        return open_comfyui()
    raise ValueError(f"no driver for {name!r}; there are {', '.join(SERVICES)}")
