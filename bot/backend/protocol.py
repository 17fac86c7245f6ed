"""The one interface the core uses to talk to an image-generation service.

A submission goes through two persisted steps, so that a crash at any point never makes
the service generate twice where it can deduplicate:

1. ``plan`` decides where and how the job will run (which host, which idempotency key)
   and returns a *ticket*; the core writes it with the ``submitting`` state.
2. ``submit`` sends the work described by the ticket and returns a *handle*; the core
   writes it with the ``submitted`` state. Called again with the same ticket (a resume
   from ``submitting``), it must find the earlier submission where the service allows it
   instead of starting a new one.

Tickets and handles are opaque text (JSON) that only the backend reads; both survive a
restart. A per-channel *scope* (SuperDuper: the channel's project) is likewise opaque:
the core persists it per (backend, channel) and hands it back to ``plan``."""

from __future__ import annotations

from typing import Protocol

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


class ImageBackend(Protocol):
    @property
    def name(self) -> str:
        """Registry name, stored with every job (``superduper``, ``comfyui``)."""
        ...

    @property
    def label(self) -> str:
        """For people: the service and where it is ("SuperDuper at api.example.com")."""
        ...

    @property
    def capabilities(self) -> frozenset[Capability]: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def prepare(self, channel: str, *, stale: str | None = None) -> str | None:
        """The scope every submission from ``channel`` carries, or None when the backend
        needs none. Called once per channel (the core persists the answer), and again
        with ``stale`` after a submission raised ``ScopeLost`` for that scope. Must be
        idempotent per ``(channel, stale)``: replicas may call it concurrently."""
        ...

    async def plan(self, *, scope: str | None, client_key: str) -> str:
        """The ticket for a new submission; cheap, no work started at the service."""
        ...

    async def submit(self, request: GenerationRequest, *, ticket: str) -> str:
        """Start (or, on a resume, find) the work; return the handle to wait on.

        Raises ``ScopeLost`` when the ticket's scope is unknown to the service."""
        ...

    async def wait(
        self, handle: str, *, timeout: float, on_progress: ProgressCallback | None = None
    ) -> Outcome:
        """Wait until every output is terminal or ``timeout`` seconds passed. Never hangs."""
        ...

    async def download(self, result: ResultFile) -> Media:
        """Fetch an output, refusing anything unsafe (``DownloadRefused``)."""
        ...

    async def cancel(self, submission: str) -> bool:
        """Stop the work of a ticket or handle; True when the service stopped it."""
        ...

    async def probe(self) -> BackendStatus:
        """Check once whether the service answers (health and the start-up log)."""
        ...

    def stats(self) -> BackendStats:
        """Its counters now, for metrics."""
        ...
