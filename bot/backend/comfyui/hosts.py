"""One ComfyUI host as the backend sees it: its client, load, health and queue snapshots.

Health: a host is healthy until a request to it fails for want of an answer (connection
errors, timeouts, 5xx after retries) or its WebSocket cannot connect; then it takes no new
jobs and is checked again (``GET /prompt``) with jittered backoff from ``reconnect_floor``
up to ``reconnect_cap``, and by every reconnect of its WebSocket. Any answer makes it
healthy again.

Load: ``queue_remaining`` from the socket's ``status`` events (or ``GET /prompt``) plus the
jobs planned on it whose submission has not shown yet (dropped after ``plan_hold``)."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable, Coroutine
from typing import Any

from websockets.asyncio.client import ClientConnection

from bot.backend.backoff import floored_jitter
from bot.backend.comfyui.client import ComfyClient, QueueSnapshot
from bot.backend.comfyui.settings import ComfyUISettings
from bot.backend.errors import AuthRefused, BackendError, BackendUnavailable

logger = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, None], str], asyncio.Task[None]]


class Host:
    """State of one host; tasks it needs are started through ``spawn`` (owned by the caller)."""

    def __init__(
        self,
        client: ComfyClient,
        settings: ComfyUISettings,
        *,
        rng: random.Random,
        spawn: Spawn,
    ) -> None:
        self.client = client
        self.label = client.label
        self._settings = settings
        self._rng = rng
        self._spawn = spawn
        self.ws: ClientConnection | None = None
        self.running: str | None = None
        """The prompt our client has running here, as its events tell (previews name none)."""
        self.queue_remaining: int | None = None
        self.healthy = True
        self.auth_refused = False
        self._planned: dict[str, float] = {}
        self._recheck: asyncio.Task[None] | None = None
        self._snapshot: tuple[float, QueueSnapshot] | None = None
        self._fetching: tuple[float, asyncio.Task[QueueSnapshot]] | None = None

    @property
    def service(self) -> str:
        """How errors name it: "ComfyUI at gpu1:8188"."""
        return f"ComfyUI at {self.label}"

    @property
    def connected(self) -> bool:
        return self.ws is not None

    # --- load ---------------------------------------------------------------------------------

    def load(self) -> int:
        now = asyncio.get_running_loop().time()
        for prompt_id, at in list(self._planned.items()):
            if now - at > self._settings.plan_hold:
                del self._planned[prompt_id]
        return (self.queue_remaining or 0) + len(self._planned)

    def plan(self, prompt_id: str) -> None:
        self._planned[prompt_id] = asyncio.get_running_loop().time()

    def planned_done(self, prompt_id: str, *, queued: bool) -> None:
        """The submission ended; ``queued``: it added an item (counted until the next
        ``status`` event says how many there are)."""
        self._planned.pop(prompt_id, None)
        if queued and self.queue_remaining is not None:
            self.queue_remaining += 1

    async def refresh_load(self) -> None:
        """Ask the queue length once (``GET /prompt``); a failure marks the host down."""
        try:
            self.queue_remaining = await self.client.queue_remaining(attempts=1)
        except AuthRefused:
            self.unreachable()
            self.auth_refused = True
        except BackendError as exc:
            logger.info("ComfyUI at %s is not answering (%s)", self.label, type(exc).__name__)
            self.unreachable()
        else:
            self.answered()

    # --- health -------------------------------------------------------------------------------

    def answered(self) -> None:
        if not self.healthy:
            logger.info("ComfyUI at %s answers again: it takes new jobs", self.label)
        self.healthy = True
        self.auth_refused = False

    def unreachable(self) -> None:
        """A request or a connection got no answer: no new jobs until the host answers."""
        if self.healthy:
            logger.warning("ComfyUI at %s stopped answering: no new jobs go there", self.label)
        self.healthy = False
        if self._recheck is None or self._recheck.done():
            self._recheck = self._spawn(self._check_again(), f"comfyui-health-{self.label}")

    def failed(self, exc: BackendError) -> None:
        """Judge a failed request: only a missing answer makes the host unhealthy."""
        if isinstance(exc, BackendUnavailable):
            self.unreachable()

    async def _check_again(self) -> None:
        failures = 0
        s = self._settings
        while not self.healthy:
            delay = floored_jitter(
                self._rng, failures, floor=s.reconnect_floor, cap=s.reconnect_cap
            )
            await asyncio.sleep(delay)
            if self.healthy:
                return
            await self.refresh_load()
            failures += 1

    # --- queue snapshots ------------------------------------------------------------------------

    async def queue(self, *, not_before: float) -> QueueSnapshot:
        """A ``GET /queue`` answer to a request sent no earlier than ``not_before`` (loop
        time).

        One request at a time per host, shared: a caller that cannot use the one in flight
        (it was sent too early) waits for the next, which serves everyone who came in the
        meantime. /queue lists every item with its whole workflow: a thousand jobs each
        asking would move megabytes for one bit each."""
        while True:
            if self._snapshot is not None and self._snapshot[0] >= not_before:
                return self._snapshot[1]
            if self._fetching is None:
                started = asyncio.get_running_loop().time()
                task = asyncio.ensure_future(self._fetch(started))
                task.add_done_callback(_retrieve)
                self._fetching = (started, task)
            started, task = self._fetching
            if started >= not_before:
                return await asyncio.shield(task)
            await asyncio.wait([task])  # too early for us: the next one is

    async def _fetch(self, started: float) -> QueueSnapshot:
        try:
            snapshot = await self.client.queue()
        finally:
            if self._fetching is not None and self._fetching[0] == started:
                self._fetching = None
        if self._snapshot is None or self._snapshot[0] < started:
            self._snapshot = (started, snapshot)
        return snapshot

    async def aclose(self) -> None:
        tasks = [t for t in (self._recheck, self._fetching[1] if self._fetching else None) if t]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def _retrieve(task: asyncio.Task[QueueSnapshot]) -> None:
    if not task.cancelled():
        task.exception()  # every awaiter saw it; do not log it again as unretrieved
