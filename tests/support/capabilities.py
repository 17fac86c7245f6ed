"""A real backend that declares fewer capabilities, to test what the core offers then."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from bot.backend.protocol import ImageBackend
from bot.backend.types import (
    BackendStats,
    BackendStatus,
    Capability,
    GenerationRequest,
    Media,
    Outcome,
    ProgressCallback,
    ResultFile,
)


class FewerCapabilities:
    """``inner`` as it is, but without ``missing`` among its capabilities."""

    def __init__(self, inner: ImageBackend, missing: Iterable[Capability]) -> None:
        self.inner = inner
        self.missing = frozenset(missing)

    @property
    def name(self) -> str:
        return self.inner.name

    @property
    def label(self) -> str:
        return self.inner.label

    @property
    def capabilities(self) -> frozenset[Capability]:
        return self.inner.capabilities - self.missing

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def prepare(self, channel: str, *, stale: str | None = None) -> str | None:
        return await self.inner.prepare(channel, stale=stale)

    async def plan(self, *, scope: str | None, client_key: str) -> str:
        return await self.inner.plan(scope=scope, client_key=client_key)

    async def submit(self, request: GenerationRequest, *, ticket: str) -> str:
        return await self.inner.submit(request, ticket=ticket)

    async def wait(
        self, handle: str, *, timeout: float, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        return await self.inner.wait(handle, timeout=timeout, on_progress=on_progress)

    async def download(self, result: ResultFile) -> Media:
        return await self.inner.download(result)

    async def cancel(self, submission: str) -> bool:
        return await self.inner.cancel(submission)

    async def probe(self) -> BackendStatus:
        return await self.inner.probe()

    def stats(self) -> BackendStats:
        return self.inner.stats()


def without(*missing: Capability) -> Callable[[ImageBackend], ImageBackend]:
    """A ``wrap_backend`` for ``open_harness``: the backend without ``missing``."""

    def wrap(backend: ImageBackend) -> ImageBackend:
        return FewerCapabilities(backend, missing)

    return wrap
