"""The hybrid watcher: one WebSocket for the whole process, plus adaptive HTTP polling.

How a wait ends: whichever comes first, a WebSocket event or a status poll. HTTP is the
source of truth — a ``generation.completed``/``failed`` event only triggers an immediate
status request, and that answer (which carries the URL) ends the wait.

Connection (lazy): the WebSocket is opened when the first file *with a project* is watched
(files without a project never get events, so a bot that never creates projects never opens
it), and is kept open afterwards. It subscribes every project that has pending files, again
after each reconnect. Reconnects, backoff and 401/403 handling: ``bot/backend/websocket.py``.

Polling: one pump task for the whole watcher takes the polls that are due from a
``PollQueue`` (``bot/backend/poll_queue.py``) and runs each as a short task, never two at
once for a file. Every poll no event asked for is under the total rate cap
(``max_poll_rate``):

* the first poll comes ``expected_generation_time`` after submission (it also catches a
  completion that happened before our subscription); a file this process did not just submit
  (a wait resumed after a restart) is due at once, and one whose completion event arrived
  before its wait began is polled at once;
* the WebSocket covers a file whose project is subscribed: only the aimed safety net
  (``bot/backend/aim.py``: polls once the file is overdue against the durations of the
  files whose events came; ``safety_net_rate`` caps them), and a file whose project was
  already subscribed when it was submitted skips the early first poll;
* otherwise (no project, WebSocket down or refused): the adaptive schedule of
  ``bot/backend/polling.py``;
* after every (re)connect and every disconnect: one reconciliation poll of every file that
  was already polled, spread over ``reconcile_spread`` seconds (and the rate cap).

A completion event's confirming poll starts at once, uncapped: there is one per file.

Several waiters on one file share a single watch. Timeouts are per waiter and end in
``WaitOutcome.TIMED_OUT``; a file the service forgot (404) or refused credentials end in
``WaitOutcome.FAILED`` with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import random
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from websockets.asyncio.client import ClientConnection
from websockets.exceptions import WebSocketException

from bot.backend.errors import AuthRefused, BackendError
from bot.backend.pacing import PacedLane, Pacer
from bot.backend.poll_queue import PollQueue, Ticket
from bot.backend.polling import PollSchedule, Recent
from bot.backend.retry import Sleep
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.superduper.errors import FileNotFound
from bot.backend.superduper.files import (
    FileState,
    FileStatus,
    PercentCallback,
    WaitOutcome,
    WaitResult,
)
from bot.backend.superduper.settings import SuperDuperSettings, ws_url_for
from bot.backend.tasks import TaskSet
from bot.backend.waits import Latest, await_result, is_number
from bot.backend.websocket import Connect, ReconnectingSocket, SocketCallbacks

logger = logging.getLogger(__name__)

EVENT_PROGRESS: Final = "generation.progress"
EVENT_COMPLETED: Final = "generation.completed"
EVENT_FAILED: Final = "generation.failed"
_EVENT_TYPES: Final = frozenset({EVENT_PROGRESS, EVENT_COMPLETED, EVENT_FAILED})
_MAX_REMEMBERED_SUBMISSIONS: Final = 10_000

__all__ = ["Connect", "HybridWatcher"]


@dataclass(eq=False, slots=True)
class _Watch:
    """Shared state of one watched file."""

    file_id: str
    project_id: str | None
    schedule: PollSchedule
    result: asyncio.Future[WaitResult]
    progress: Latest[int]
    fresh: bool
    """Submitted by this process just now: ``schedule.started`` is its submission."""
    waiters: int = 0
    ticket: Ticket[_Watch] | None = None
    """Its queued poll, if one is queued."""
    polling: asyncio.Task[None] | None = None
    """Its poll in flight, if one is."""
    again: bool = False
    """An event came while a poll was in flight: poll once more right after it."""
    aimed: int = 0
    """Safety-net polls made."""
    last_state: FileState | None = None
    event_error: str | None = None
    event_said_terminal: bool = False


class HybridWatcher:
    """Waits for files to reach a terminal state over one shared WebSocket and HTTP polls."""

    def __init__(
        self,
        settings: SuperDuperSettings,
        client: SuperDuperClient,
        *,
        rng: random.Random | None = None,
        connect_factory: Connect | None = None,
        reconnect_sleep: Sleep | None = None,
    ) -> None:
        """``reconnect_sleep`` is the WebSocket's pause between connection attempts
        (``asyncio.sleep`` unless given: injectable so tests can check the delays)."""
        self._settings = settings
        self._client = client
        self._rng = rng if rng is not None else random.Random()
        self._watches: dict[str, _Watch] = {}
        self._project_files: dict[str, int] = {}
        self._subscribed: set[str] = set()
        self._acknowledged: set[str] = set()
        self._ws: ClientConnection | None = None
        self._ws_needed = asyncio.Event()
        self._ws_task: asyncio.Task[None] | None = None
        self._tasks = TaskSet()
        self._queue: PollQueue[_Watch] = PollQueue(
            settings,
            total=Pacer(settings.max_poll_rate),
            safety=Pacer(settings.safety_net_rate),
        )
        self._leaving = PacedLane(settings.max_poll_rate, max_size=settings.max_concurrent_requests)
        """The same cap where capped polls leave: one handed out may wait for an in-flight
        slot, and polls freed together would otherwise go out in a bunch."""
        self._pump_wake = asyncio.Event()
        self._submitted_at: Recent[str, float] = Recent(_MAX_REMEMBERED_SUBMISSIONS)
        self._early_terminal: Recent[str, None] = Recent(_MAX_REMEMBERED_SUBMISSIONS)
        """Files whose completion/failure event came before anyone waited for them."""
        self._started = False
        self._closed = False
        self.status_polls = 0
        """Successful status requests (for metrics)."""
        self._socket = ReconnectingSocket(
            ws_url_for(settings),
            SocketCallbacks(self._on_open, self._handle_message, self._on_closed),
            settings,
            rng=self._rng,
            connect_factory=connect_factory,
            headers={"Authorization": f"Bearer {settings.token}"},
            needed=self._ws_needed,
            still_needed=lambda: bool(self._project_files),
            sleep=reconnect_sleep,
        )
        self.events_received = 0
        """Well-formed generation events handled (for metrics and tests)."""

    @property
    def connections(self) -> int:
        """WebSocket connections opened so far (introspection for tests and metrics)."""
        return self._socket.connections

    # --- introspection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def ws_auth_refused(self) -> bool:
        """True after the last handshake was refused with 401/403 (polling only for now)."""
        return self._socket.auth_refused

    def is_subscribed(self, project_id: str) -> bool:
        """True when the current connection has sent the subscription for ``project_id``."""
        return self._ws is not None and project_id in self._subscribed

    def subscription_acknowledged(self, project_id: str) -> bool:
        """True when the service answered ``{"type": "subscribed"}`` for ``project_id`` on the
        current connection (the emulator does; the contract does not require it)."""
        return self._ws is not None and project_id in self._acknowledged

    @property
    def pending(self) -> int:
        return len(self._watches)

    def next_poll_at(self, file_id: str) -> float | None:
        """When the next status poll of ``file_id`` is due (the event loop's clock; 0.0 means
        at once), or None when nobody waits for it (introspection for tests)."""
        watch = self._watches.get(file_id)
        return self._next_poll_at(watch) if watch is not None else None

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("the watcher is closed")
        if self._started:
            return
        self._started = True
        self._ws_task = self._tasks.spawn(self._socket.run(), "superduper-websocket")
        self._tasks.spawn(self._pump(), "superduper-polls")

    async def aclose(self) -> None:
        """Stop the WebSocket and every poll; pending waits raise ``BackendUnavailable``."""
        if self._closed:
            return
        self._closed = True
        await self._tasks.close(w.result for w in list(self._watches.values()))
        self._watches.clear()
        self._project_files.clear()

    def note_submitted(self, file_ids: Iterable[str]) -> None:
        """Remember when files were submitted, so their first poll is timed from then.

        A file waited for without this (e.g. resumed after a restart) is polled at once: it
        may have finished long ago."""
        now = asyncio.get_running_loop().time()
        for file_id in file_ids:
            self._submitted_at.add(file_id, now)

    # --- waiting ------------------------------------------------------------------------------

    async def wait(
        self,
        file_id: str,
        project_id: str | None,
        *,
        timeout: float,
        on_progress: PercentCallback | None = None,
    ) -> WaitResult:
        """Wait until ``file_id`` is terminal (confirmed over HTTP) or ``timeout`` passed."""
        if self._closed:
            raise RuntimeError("the watcher is closed")
        await self.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout, 0.0)
        watch = self._acquire(file_id, project_id)
        try:
            if watch.project_id is not None:
                await self._subscribe(watch.project_id)
            result = await await_result(
                watch.result,
                deadline=deadline,
                progress=watch.progress,
                on_progress=on_progress,
                what=f"file {file_id}",
            )
            if result is None:
                return WaitResult(
                    WaitOutcome.TIMED_OUT, watch.last_state, f"no result after {timeout:g}s"
                )
            return result
        finally:
            self._release(watch)

    def _acquire(self, file_id: str, project_id: str | None) -> _Watch:
        watch = self._watches.get(file_id)
        if watch is None:
            loop = asyncio.get_running_loop()
            submitted = self._submitted_at.pop(file_id)
            fresh = submitted is not None
            if submitted is None:  # not submitted by us just now: look at once
                submitted = loop.time() - self._settings.expected_generation_time
            covered = (
                fresh and project_id is not None and self.subscription_acknowledged(project_id)
            )
            watch = _Watch(
                file_id=file_id,
                project_id=project_id,
                schedule=PollSchedule(started=submitted, covered_from_start=covered),
                result=loop.create_future(),
                progress=Latest(-1),
                fresh=fresh,
            )
            self._watches[file_id] = watch
            self._add_project(watch)
            if file_id in self._early_terminal:
                self._early_terminal.pop(file_id)
                watch.event_said_terminal = True
                self._poll_now(watch)  # its event beat the wait: confirm at once
            else:
                self._place(watch)
        elif watch.project_id is None and project_id is not None:
            watch.project_id = project_id
            self._add_project(watch)
            self._place(watch)
        watch.waiters += 1
        return watch

    def _release(self, watch: _Watch) -> None:
        watch.waiters -= 1
        if watch.waiters > 0:
            return
        if self._watches.get(watch.file_id) is watch:
            del self._watches[watch.file_id]
            self._remove_project(watch)
        self._queue.cancel(watch.ticket)
        watch.ticket = None
        if watch.polling is not None and not watch.polling.done():
            watch.polling.cancel()

    def _add_project(self, watch: _Watch) -> None:
        if watch.project_id is None:
            return
        self._project_files[watch.project_id] = self._project_files.get(watch.project_id, 0) + 1
        self._ws_needed.set()

    def _remove_project(self, watch: _Watch) -> None:
        pid = watch.project_id
        if pid is None:
            return
        left = self._project_files.get(pid, 0) - 1
        if left > 0:
            self._project_files[pid] = left
        else:
            # No unsubscribe message in the contract: events for it are simply ignored.
            self._project_files.pop(pid, None)

    # --- polling ------------------------------------------------------------------------------

    def _place(self, watch: _Watch) -> None:
        """Queue ``watch``'s next poll (after a change in what is known about it)."""
        self._queue.cancel(watch.ticket)
        watch.ticket = None
        if watch.polling is not None or watch.result.done():
            return  # the poll in flight places it again when it ends
        schedule = watch.schedule
        if schedule.poll_now:
            self._poll_now(watch)
            return
        covered = self._ws_covers(watch) and not watch.event_said_terminal
        aimed = (
            covered
            and schedule.reconcile_at is None
            and not schedule.errors
            and (schedule.polls_since_start or schedule.covered_from_start)
        )
        if aimed:
            last = schedule.last_poll if schedule.polls else None
            watch.ticket = self._queue.aim(
                watch, started=schedule.started, last_poll=last, done=watch.aimed
            )
        else:
            due = schedule.due(self._settings, covered=covered, watched=len(self._watches))
            watch.ticket = self._queue.at(watch, due)
        self._pump_wake.set()

    def _poll_now(self, watch: _Watch) -> None:
        """Poll at once, outside the caps (an event said the file ended)."""
        self._queue.cancel(watch.ticket)
        watch.ticket = None
        if watch.polling is not None:
            watch.again = True
        elif not watch.result.done():
            watch.polling = self._tasks.spawn(
                self._run_poll(watch, aimed=False, capped=False), "superduper-poll"
            )

    async def _pump(self) -> None:
        """Start every poll the queue says is due; sleep until the next one or a change."""
        loop = asyncio.get_running_loop()
        while True:
            now = loop.time()
            for ticket in self._queue.take_due(now):
                watch = ticket.key
                watch.ticket = None
                if watch.polling is None and not watch.result.done():
                    watch.polling = self._tasks.spawn(
                        self._run_poll(watch, aimed=ticket.aimed, capped=True), "superduper-poll"
                    )
            at = self._queue.next_at(loop.time())
            self._pump_wake.clear()
            if at is None:
                await self._pump_wake.wait()
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout_at(at):
                    await self._pump_wake.wait()

    async def _run_poll(self, watch: _Watch, *, aimed: bool, capped: bool) -> None:
        try:
            watch.schedule.begin_poll()
            result = await self._poll(watch, capped=capped)
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("watching file %s failed unexpectedly", watch.file_id)
            result = WaitResult(
                WaitOutcome.FAILED, watch.last_state, "internal error while watching the file"
            )
        finally:
            watch.polling = None
        if result is not None:
            self._finish(watch, result)
            return
        if aimed:
            watch.aimed += 1
        if watch.again:
            watch.again = False
            watch.schedule.request()
        if self._watches.get(watch.file_id) is watch:
            self._place(watch)

    def _next_poll_at(self, watch: _Watch) -> float:
        if watch.polling is not None or watch.ticket is None:
            return 0.0
        return self._queue.due_of(watch.ticket)

    def _ws_covers(self, watch: _Watch) -> bool:
        return watch.project_id is not None and self.is_subscribed(watch.project_id)

    async def _poll(self, watch: _Watch, *, capped: bool) -> WaitResult | None:
        loop = asyncio.get_running_loop()
        admission = self._leaving if capped else None
        try:
            state = await self._client.file_status(watch.file_id, admission=admission)
        except FileNotFound:
            return WaitResult(
                WaitOutcome.FAILED,
                watch.last_state,
                f"the service no longer knows file {watch.file_id} "
                "(it may have restarted and lost its state)",
            )
        except AuthRefused:
            return WaitResult(
                WaitOutcome.FAILED,
                watch.last_state,
                "the service refused our credentials while checking the file's status",
            )
        except BackendError as exc:
            delay = watch.schedule.failed(loop.time(), self._rng, self._settings)
            logger.warning(
                "status of file %s unavailable (%s); next try in %.1fs",
                watch.file_id,
                exc,
                delay,
            )
            return None
        watch.schedule.succeeded(loop.time(), self._rng)
        self.status_polls += 1
        watch.last_state = state
        self._set_progress(watch, state.progress)
        if state.status is FileStatus.COMPLETED:
            return WaitResult(WaitOutcome.COMPLETED, state)
        if state.status is FileStatus.FAILED:
            reason = state.error or watch.event_error or "the service reported a failure"
            return WaitResult(WaitOutcome.FAILED, state, reason)
        return None

    def _finish(self, watch: _Watch, result: WaitResult) -> None:
        self._queue.cancel(watch.ticket)
        watch.ticket = None
        if not watch.result.done():
            watch.result.set_result(result)
        if self._watches.get(watch.file_id) is watch:
            del self._watches[watch.file_id]
            self._remove_project(watch)

    def _set_progress(self, watch: _Watch, percent: int) -> None:
        percent = min(max(percent, 0), 100)
        if percent > watch.progress.value:
            watch.progress.publish(percent)

    def _reconcile_all(self) -> None:
        """Schedule one jittered poll of every already-polled file (events may be lost)."""
        now = asyncio.get_running_loop().time()
        spread = self._settings.reconcile_spread
        for watch in self._watches.values():
            watch.schedule.reconcile(now, self._rng, spread)
            self._place(watch)

    # --- WebSocket ----------------------------------------------------------------------------

    async def _subscribe(self, project_id: str) -> None:
        ws = self._ws
        if ws is None or project_id in self._subscribed:
            return
        self._subscribed.add(project_id)
        try:
            await ws.send(json.dumps({"type": "subscribe", "project_id": project_id}))
        except WebSocketException:
            logger.debug("subscription to a project was interrupted; resent after reconnect")

    async def _on_open(self, ws: ClientConnection) -> None:
        self._subscribed = set()
        self._acknowledged = set()
        self._ws = ws
        logger.info("WebSocket connected")
        for project_id in list(self._project_files):
            await self._subscribe(project_id)
        self._reconcile_all()

    def _on_closed(self) -> None:
        was_open = self._ws is not None
        self._ws = None
        self._subscribed = set()
        self._acknowledged = set()
        if was_open:
            self._reconcile_all()

    def _handle_message(self, message: str | bytes) -> None:
        try:
            event = json.loads(message)
        except ValueError:  # UnicodeDecodeError included
            logger.debug("ignoring a malformed WebSocket message")
            return
        if not isinstance(event, dict):
            return
        kind = event.get("type")
        if kind == "subscribed" and isinstance(event.get("project_id"), str):
            self._acknowledged.add(event["project_id"])
            return
        if not isinstance(kind, str) or kind not in _EVENT_TYPES:
            return  # errors and other message types carry nothing to act on
        file_id = event.get("file_id")
        self.events_received += 1
        watch = self._watches.get(file_id) if isinstance(file_id, str) else None
        if watch is None and isinstance(file_id, str) and kind != EVENT_PROGRESS:
            self._early_terminal.add(file_id, None)  # a wait may be about to start for it
        if watch is None or watch.result.done():
            return  # unknown, late or duplicate
        project_id = event.get("project_id")
        if watch.project_id is not None and project_id != watch.project_id:
            return
        progress = event.get("progress")
        if is_number(progress):
            self._set_progress(watch, int(progress))
        if kind == EVENT_PROGRESS:
            return
        error = event.get("error")
        if kind == EVENT_FAILED and isinstance(error, str) and error:
            watch.event_error = error[:500]
        if not watch.event_said_terminal and watch.fresh:
            now = asyncio.get_running_loop().time()
            self._queue.durations.observe(now - watch.schedule.started)
            self._pump_wake.set()  # the safety net's aims moved
        watch.event_said_terminal = True
        self._poll_now(watch)  # confirm over HTTP, which also gives the URL
