"""The ComfyUI hybrid watcher: one WebSocket per host, plus adaptive HTTP polling.

Events: each host's socket is ``/ws?clientId=<ours>``, and ComfyUI sends a job's events only
to the socket whose clientId is the job's ``client_id``, so the client id is persisted (the
backend keeps it in the ``ValueStore``) and a job counts as covered only when its handle
carries our id and its host's socket is up. HTTP is the source of truth: a job's end
(``execution_success``/``_error``/``_interrupted``, or ``executing`` with ``node: null``,
sent once its history is written) triggers one ``GET /history/{id}``, which gives the
outputs. ``executed`` is not used: ComfyUI sends it while the job is still running.
``progress`` events and binary previews become ``Progress``.

Polling, per job (one task each, the schedule of ``bot/backend/polling.py``; rate caps per
host): ``/history/{id}`` is ``{}`` for a pending and an unknown job alike, so an empty answer
is followed by the host's ``/queue`` (one request shared by every job asking at once): a
pending job is timed again from now, a running one keeps its schedule, and one in neither
(after a second look at its history, in case it finished in between) was **lost**: the host
restarted. A job on a host that stops answering keeps polling with backoff until it answers.
After every (re)connect and disconnect of a host's socket, its jobs are reconciled."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from websockets.asyncio.client import ClientConnection

from bot.backend.comfyui import events
from bot.backend.comfyui.handles import Submission
from bot.backend.comfyui.hosts import Host
from bot.backend.comfyui.outputs import outcome_of
from bot.backend.comfyui.settings import AUTHORIZATION_SETTING, ComfyUISettings
from bot.backend.errors import AuthRefused, BackendError
from bot.backend.polling import PollSchedule, Recent, run_polls
from bot.backend.tasks import TaskSet
from bot.backend.types import Outcome, OutcomeStatus, Progress, ProgressCallback, ResultFile
from bot.backend.waits import Latest, await_result
from bot.backend.websocket import Connect, ReconnectingSocket, SocketCallbacks

logger = logging.getLogger(__name__)

_MAX_REMEMBERED: Final = 10_000


@dataclass(eq=False)
class _Watch:
    """Shared state of one watched job; owned by its poll task."""

    host: Host
    submission: Submission
    schedule: PollSchedule
    result: asyncio.Future[Outcome]
    progress: Latest[Progress]
    waiters: int = 0
    task: asyncio.Task[None] | None = None
    event_said_terminal: bool = False

    @property
    def prompt_id(self) -> str:
        return self.submission.prompt_id


class ComfyWatcher:
    """Waits for ComfyUI jobs on several hosts; one socket per host, opened at ``start``."""

    def __init__(
        self,
        settings: ComfyUISettings,
        *,
        rng: random.Random,
        connect_factory: Connect | None = None,
    ) -> None:
        self._settings = settings
        self._rng = rng
        self._connect = connect_factory
        self._watches: dict[tuple[str, str], _Watch] = {}
        self._per_host: dict[str, int] = {}
        self._sockets: dict[str, ReconnectingSocket] = {}
        self._tasks = TaskSet()
        self._submitted_at: Recent[tuple[str, str], float] = Recent(_MAX_REMEMBERED)
        self._early: Recent[tuple[str, str], None] = Recent(_MAX_REMEMBERED)
        """Jobs whose end event came before anyone waited for them."""
        self.client_id = ""
        self._closed = False
        self.events_received = 0
        """Job events handled (for metrics and tests)."""
        self.status_polls = 0
        """History/queue look-ups that answered (for metrics)."""

    # --- introspection ------------------------------------------------------------------------

    def socket_of(self, host: Host) -> ReconnectingSocket | None:
        return self._sockets.get(host.client.base)

    @property
    def pending(self) -> int:
        return len(self._watches)

    @property
    def connections(self) -> int:
        """WebSocket connections opened so far, over every host."""
        return sum(socket.connections for socket in self._sockets.values())

    # --- lifecycle -----------------------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> asyncio.Task[None]:
        """Start a task the watcher owns (stopped at ``aclose``)."""
        return self._tasks.spawn(coro, name)

    async def start(self, client_id: str, hosts: Sequence[Host]) -> None:
        """Open one socket per host as ``client_id``."""
        if self._closed:
            raise RuntimeError("the watcher is closed")
        if self._sockets:
            return
        self.client_id = client_id
        for host in hosts:
            socket = ReconnectingSocket(
                host.client.ws_url(client_id),
                SocketCallbacks(
                    partial(self._opened, host),
                    partial(self._received, host),
                    partial(self._closed_socket, host),
                    host.unreachable,
                ),
                self._settings,
                rng=self._rng,
                connect_factory=self._connect,
                headers=self._settings.auth_headers(),
                name=f"ComfyUI WebSocket to {host.label}",
            )
            self._sockets[host.client.base] = socket
            self.spawn(socket.run(), f"comfyui-websocket-{host.label}")

    async def aclose(self) -> None:
        """Stop every socket and poll; pending waits raise ``BackendUnavailable``."""
        if self._closed:
            return
        self._closed = True
        await self._tasks.close(w.result for w in list(self._watches.values()))
        self._watches.clear()

    def note_submitted(self, host: Host, prompt_id: str) -> None:
        """Time the first poll of a job from now (one waited for without this is polled at
        once: it may have finished long ago)."""
        key = (host.client.base, prompt_id)
        self._submitted_at.add(key, asyncio.get_running_loop().time())

    # --- waiting ------------------------------------------------------------------------------

    async def wait(
        self,
        host: Host,
        submission: Submission,
        *,
        timeout: float,
        on_progress: ProgressCallback | None = None,
    ) -> Outcome:
        """Wait until the job ended (confirmed over HTTP) or ``timeout`` passed."""
        if self._closed:
            raise RuntimeError("the watcher is closed")
        deadline = asyncio.get_running_loop().time() + max(timeout, 0.0)
        watch = self._acquire(host, submission)
        try:
            outcome = await await_result(
                watch.result,
                deadline=deadline,
                progress=watch.progress,
                on_progress=on_progress,
                what=f"prompt {submission.prompt_id} on {host.label}",
            )
        finally:
            self._release(watch)
        if outcome is None:
            return Outcome(OutcomeStatus.TIMED_OUT, (), f"no result after {timeout:g}s")
        return outcome

    def _acquire(self, host: Host, submission: Submission) -> _Watch:
        key = (host.client.base, submission.prompt_id)
        watch = self._watches.get(key)
        if watch is None:
            loop = asyncio.get_running_loop()
            submitted = self._submitted_at.pop(key)
            covered = submitted is not None and self._covers(host, submission)
            if submitted is None:  # not submitted by us just now: look at once
                submitted = loop.time() - self._settings.expected_generation_time
            watch = _Watch(
                host=host,
                submission=submission,
                schedule=PollSchedule(started=submitted, covered_from_start=covered),
                result=loop.create_future(),
                progress=Latest(Progress(0)),
            )
            if key in self._early:
                self._early.pop(key)
                watch.schedule.poll_now = True  # its end event beat the wait: confirm at once
            self._watches[key] = watch
            base = host.client.base
            self._per_host[base] = self._per_host.get(base, 0) + 1
            watch.task = self.spawn(self._run(watch), f"comfyui-watch-{submission.prompt_id}")
        watch.waiters += 1
        return watch

    def _release(self, watch: _Watch) -> None:
        watch.waiters -= 1
        if watch.waiters > 0:
            return
        self._forget(watch)
        if watch.task is not None and not watch.task.done():
            watch.task.cancel()

    def _forget(self, watch: _Watch) -> None:
        key = (watch.host.client.base, watch.prompt_id)
        if self._watches.get(key) is watch:
            del self._watches[key]
            self._per_host[watch.host.client.base] -= 1

    def _covers(self, host: Host, submission: Submission) -> bool:
        return host.connected and submission.client_id == self.client_id

    # --- polling ------------------------------------------------------------------------------

    async def _run(self, watch: _Watch) -> None:
        async def poll() -> bool:
            outcome = await self._poll(watch)
            if outcome is None:
                return False
            if not watch.result.done():
                watch.result.set_result(outcome)
            self._forget(watch)
            return True

        def due() -> float:
            covered = self._covers(watch.host, watch.submission) and not watch.event_said_terminal
            watched = self._per_host.get(watch.host.client.base, 1)
            return watch.schedule.due(self._settings, covered=covered, watched=watched)

        try:
            await run_polls(watch.schedule, due, poll)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("watching prompt %s failed unexpectedly", watch.prompt_id)
            if not watch.result.done():
                watch.result.set_result(
                    Outcome(OutcomeStatus.FAILED, reason="internal error while watching the job")
                )
            self._forget(watch)

    async def _poll(self, watch: _Watch) -> Outcome | None:
        loop = asyncio.get_running_loop()
        host, sub = watch.host, watch.submission
        ahead: int | None = None
        asked = loop.time()
        try:
            entry = await host.client.history(sub.prompt_id)
            if entry is None:
                snapshot = await host.queue(not_before=asked)
                ahead = snapshot.ahead_of(sub.prompt_id)
                if ahead is None:  # maybe it finished in between: look once more
                    entry = await host.client.history(sub.prompt_id)
                    if entry is None:
                        host.answered()
                        return self._lost(watch)
        except AuthRefused:
            return Outcome(
                OutcomeStatus.FAILED,
                reason=f"ComfyUI at {host.label} refused the bot's {AUTHORIZATION_SETTING}",
                retryable=False,
            )
        except BackendError as exc:
            host.failed(exc)
            delay = watch.schedule.failed(loop.time(), self._rng, self._settings)
            logger.warning(
                "status of prompt %s on %s unavailable (%s); next try in %.1fs",
                sub.prompt_id,
                host.label,
                exc,
                delay,
            )
            return None
        host.answered()
        watch.schedule.succeeded(loop.time(), self._rng)
        self.status_polls += 1
        if entry is None:
            if ahead:  # still waiting its turn: no result before it ran
                watch.schedule.restart(loop.time())
            return None
        return outcome_of(
            entry,
            view_url=host.client.view_url,
            seed=sub.seed,
            expected=sub.outputs or 1,
            video=sub.video,
        )

    def _lost(self, watch: _Watch) -> Outcome:
        reason = (
            f"the GPU server ({watch.host.label}) restarted and lost this job: ComfyUI "
            "no longer has it in its queue or history"
        )
        logger.warning("prompt %s on %s was lost", watch.prompt_id, watch.host.label)
        failed = tuple(ResultFile(None, error=reason) for _ in range(watch.submission.outputs or 1))
        return Outcome(OutcomeStatus.FAILED, failed, reason)

    def _reconcile(self, host: Host) -> None:
        now = asyncio.get_running_loop().time()
        for watch in self._watches.values():
            if watch.host is host:
                watch.schedule.reconcile(now, self._rng, self._settings.reconcile_spread)

    # --- WebSocket ----------------------------------------------------------------------------

    async def _opened(self, host: Host, ws: ClientConnection) -> None:
        host.ws = ws
        host.answered()
        logger.info("ComfyUI WebSocket to %s connected", host.label)
        self._reconcile(host)

    def _closed_socket(self, host: Host) -> None:
        was_open = host.ws is not None
        host.ws = None
        host.running = None
        if was_open:
            self._reconcile(host)

    def _received(self, host: Host, message: str | bytes) -> None:
        event = events.parse(message)
        if isinstance(event, events.QueueStatus):
            host.queue_remaining = event.remaining
        elif isinstance(event, events.Preview):
            watch = self._watches.get((host.client.base, host.running or ""))
            if watch is not None and not watch.result.done():
                watch.progress.publish(Progress(watch.progress.value.percent, event.data))
        elif isinstance(event, events.JobEvent):
            self._job_event(host, event)

    def _job_event(self, host: Host, event: events.JobEvent) -> None:
        self.events_received += 1
        if event.finished:
            if host.running == event.prompt_id:
                host.running = None
        else:
            host.running = event.prompt_id
        key = (host.client.base, event.prompt_id)
        watch = self._watches.get(key)
        if watch is None:
            if event.finished:  # a wait may be about to start for it
                self._early.add(key, None)
            return
        if watch.result.done():
            return  # late or duplicate
        if event.kind == events.STARTED:
            # It runs now, and its events reach us: time it from here, polls as a safety net.
            watch.schedule.restart(asyncio.get_running_loop().time())
            watch.schedule.covered_from_start = True
        if event.percent is not None and event.percent > watch.progress.value.percent:
            watch.progress.publish(Progress(event.percent))
        if event.finished:
            watch.event_said_terminal = True
            watch.schedule.request()  # confirm over HTTP, which also gives the outputs
