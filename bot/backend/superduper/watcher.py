"""The hybrid watcher: one WebSocket for the whole process, plus adaptive HTTP polling.

How a wait ends: whichever comes first, a WebSocket event or a status poll. HTTP is the
source of truth — a ``generation.completed``/``failed`` event only triggers an immediate
status request, and that answer (which carries the URL) ends the wait.

Connection (lazy): the WebSocket is opened when the first file *with a project* is watched
(files without a project never get events, so a bot that never creates projects never opens
it), and is kept open afterwards. It subscribes every project that has pending files, again
after each reconnect. Reconnects use our own loop with full-jitter exponential backoff
between ``reconnect_floor`` and ``reconnect_cap``; the backoff is reset only after a connection
stayed up ``healthy_after`` seconds, so a server that accepts and then closes cannot cause a
storm. A 401/403 at handshake switches to polling only and retries every
``auth_refused_retry`` seconds. Keepalive pings detect half-open sockets; an oversized or
broken message ends the connection and the loop reconnects.

Polling, per watched file (one task, so never two status requests in flight for a file):

* the first poll comes ``expected_generation_time`` after submission (nothing can be done
  sooner; it also catches a completion that happened before our subscription); a file this
  process did not just submit (a wait resumed after a restart) is polled at once, and so is
  one whose completion event arrived before its wait began;
* while the WebSocket covers the file: a safety-net poll every ``safety_net_poll`` seconds,
  stretched so that all of them together stay under ``safety_net_rate`` per second; a file
  whose project was already subscribed when it was submitted skips the early first poll;
* otherwise (no project, WebSocket down or refused): tight polls
  (``max(poll_interval_min, expected/20)``) until 1.5 × the expected time, then an interval of
  half the time overdue, capped at ``poll_interval_cap``, with ±20 % jitter; all files together
  stay under ``max_poll_rate`` requests per second;
* after errors: full-jitter exponential backoff up to ``poll_interval_cap``;
* after every (re)connect and every disconnect: one reconciliation poll of every file that
  was already polled, spread uniformly over ``reconcile_spread`` seconds.

Several waiters on one file share a single watch. Timeouts are per waiter and end in
``WaitOutcome.TIMED_OUT``; a file the service forgot (404) or refused credentials end in
``WaitOutcome.FAILED`` with a reason.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import random
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterable
from dataclasses import dataclass, field
from typing import Any, Final, TypeGuard

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bot.backend.backoff import floored_jitter
from bot.backend.errors import AuthRefused, BackendError, BackendUnavailable
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.superduper.errors import FileNotFound
from bot.backend.superduper.files import (
    FileState,
    FileStatus,
    PercentCallback,
    WaitOutcome,
    WaitResult,
)
from bot.backend.superduper.logs import HeaderRedactingAdapter
from bot.backend.superduper.settings import SuperDuperSettings, ws_url_for

logger = logging.getLogger(__name__)

EVENT_PROGRESS: Final = "generation.progress"
EVENT_COMPLETED: Final = "generation.completed"
EVENT_FAILED: Final = "generation.failed"
_EVENT_TYPES: Final = frozenset({EVENT_PROGRESS, EVENT_COMPLETED, EVENT_FAILED})
_POLL_GROWTH: Final = 1.5
_MAX_REMEMBERED_SUBMISSIONS: Final = 10_000

Connect = Callable[..., Any]
"""``websockets.asyncio.client.connect`` or a compatible factory (injectable)."""


@dataclass(eq=False)
class _Watch:
    """Shared state of one watched file; owned by its poll task."""

    file_id: str
    project_id: str | None
    started: float
    result: asyncio.Future[WaitResult]
    progress_changed: asyncio.Future[None]
    waiters: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    progress: int = -1
    polls: int = 0
    last_poll: float = 0.0
    jitter: float = 1.0
    errors: int = 0
    retry_at: float = 0.0
    poll_now: bool = False
    reconcile_at: float | None = None
    last_state: FileState | None = None
    event_error: str | None = None
    event_said_terminal: bool = False
    covered_from_start: bool = False
    """Its project's subscription was confirmed before the wait began: every event since
    submission reaches us, so the early first poll is not needed."""


class HybridWatcher:
    """Waits for files to reach a terminal state over one shared WebSocket and HTTP polls."""

    def __init__(
        self,
        settings: SuperDuperSettings,
        client: SuperDuperClient,
        *,
        rng: random.Random | None = None,
        connect_factory: Connect | None = None,
    ) -> None:
        self._settings = settings
        self._client = client
        self._rng = rng if rng is not None else random.Random()
        self._connect: Connect = connect_factory if connect_factory is not None else connect
        self._ws_url = ws_url_for(settings)
        self._watches: dict[str, _Watch] = {}
        self._project_files: dict[str, int] = {}
        self._subscribed: set[str] = set()
        self._acknowledged: set[str] = set()
        self._ws: ClientConnection | None = None
        self._ws_needed = asyncio.Event()
        self._ws_task: asyncio.Task[None] | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._submitted_at: OrderedDict[str, float] = OrderedDict()
        self._early_terminal: OrderedDict[str, None] = OrderedDict()
        """Files whose completion/failure event came before anyone waited for them."""
        self._started = False
        self._closed = False
        self._auth_refused = False
        self.connections = 0
        self.status_polls = 0
        """Successful status requests (for metrics)."""
        self.events_received = 0
        """Well-formed generation events handled (for metrics and tests)."""
        """WebSocket connections opened so far (introspection for tests and metrics)."""

    # --- introspection ------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._ws is not None

    @property
    def ws_auth_refused(self) -> bool:
        """True after the last handshake was refused with 401/403 (polling only for now)."""
        return self._auth_refused

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

    # --- lifecycle -----------------------------------------------------------------------------

    async def start(self) -> None:
        if self._closed:
            raise RuntimeError("the watcher is closed")
        if self._started:
            return
        self._started = True
        self._ws_task = self._spawn(self._ws_loop(), name="superduper-websocket")

    async def aclose(self) -> None:
        """Stop the WebSocket and every poll; pending waits raise ``BackendUnavailable``."""
        if self._closed:
            return
        self._closed = True
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for watch in list(self._watches.values()):
            if not watch.result.done():
                watch.result.set_exception(BackendUnavailable("the watcher was closed"))
        self._watches.clear()
        self._project_files.clear()

    def _spawn(self, coro: Coroutine[Any, Any, None], *, name: str) -> asyncio.Task[None]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def note_submitted(self, file_ids: Iterable[str]) -> None:
        """Remember when files were submitted, so their first poll is timed from then.

        A file waited for without this (e.g. resumed after a restart) is polled at once: it
        may have finished long ago."""
        now = asyncio.get_running_loop().time()
        for file_id in file_ids:
            self._submitted_at[file_id] = now
            self._submitted_at.move_to_end(file_id)
        while len(self._submitted_at) > _MAX_REMEMBERED_SUBMISSIONS:
            self._submitted_at.popitem(last=False)

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
            delivered = -1
            while not watch.result.done():
                if on_progress is not None and watch.progress > delivered:
                    delivered = watch.progress
                    await _call_progress(on_progress, delivered, file_id, deadline)
                    continue
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return WaitResult(
                        WaitOutcome.TIMED_OUT,
                        watch.last_state,
                        f"no result after {timeout:g}s",
                    )
                signals: set[asyncio.Future[Any]] = {watch.result}
                if on_progress is not None:
                    signals.add(watch.progress_changed)
                await asyncio.wait(signals, timeout=remaining, return_when=asyncio.FIRST_COMPLETED)
            return watch.result.result()
        finally:
            self._release(watch)

    def _acquire(self, file_id: str, project_id: str | None) -> _Watch:
        watch = self._watches.get(file_id)
        if watch is None:
            loop = asyncio.get_running_loop()
            submitted = self._submitted_at.pop(file_id, None)
            fresh = submitted is not None
            if submitted is None:  # not submitted by us just now: look at once
                submitted = loop.time() - self._settings.expected_generation_time
            watch = _Watch(
                file_id=file_id,
                project_id=project_id,
                started=submitted,
                result=loop.create_future(),
                progress_changed=loop.create_future(),
                covered_from_start=fresh
                and project_id is not None
                and self.subscription_acknowledged(project_id),
            )
            if file_id in self._early_terminal:
                del self._early_terminal[file_id]
                watch.poll_now = True  # its event beat the wait: confirm at once
            self._watches[file_id] = watch
            self._add_project(watch)
            watch.task = self._spawn(self._run_watch(watch), name=f"watch-{file_id}")
        elif watch.project_id is None and project_id is not None:
            watch.project_id = project_id
            self._add_project(watch)
        watch.waiters += 1
        return watch

    def _release(self, watch: _Watch) -> None:
        watch.waiters -= 1
        if watch.waiters > 0:
            return
        if self._watches.get(watch.file_id) is watch:
            del self._watches[watch.file_id]
            self._remove_project(watch)
        if watch.task is not None and not watch.task.done():
            watch.task.cancel()

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

    async def _run_watch(self, watch: _Watch) -> None:
        loop = asyncio.get_running_loop()
        try:
            while True:
                now = loop.time()
                due = self._next_poll_at(watch)
                if due > now:
                    watch.wake.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(due - now):
                            await watch.wake.wait()
                    continue
                watch.poll_now = False
                watch.reconcile_at = None
                result = await self._poll(watch)
                if result is not None:
                    self._finish(watch, result)
                    return
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("watching file %s failed unexpectedly", watch.file_id)
            self._finish(
                watch,
                WaitResult(
                    WaitOutcome.FAILED, watch.last_state, "internal error while watching the file"
                ),
            )

    def _next_poll_at(self, watch: _Watch) -> float:
        s = self._settings
        if watch.poll_now:
            return 0.0
        if watch.reconcile_at is not None:
            return watch.reconcile_at
        if watch.errors:
            return watch.retry_at
        covered = self._ws_covers(watch) and not watch.event_said_terminal
        if covered and (watch.polls or watch.covered_from_start):
            # Events arrive: polls are only a safety net, their total rate capped.
            interval = max(s.safety_net_poll, len(self._watches) / s.safety_net_rate)
            return max(watch.last_poll, watch.started) + interval * watch.jitter
        if watch.polls == 0:
            return watch.started + s.expected_generation_time
        # Polling is the only signal: tight while completion is expected, then backing off
        # in proportion to how overdue the file is.
        tight = max(s.poll_interval_min, s.expected_generation_time / 20)
        overdue = watch.last_poll - (watch.started + s.expected_generation_time * 1.5)
        interval = min(s.poll_interval_cap, max(tight, overdue / 2))
        interval = max(interval, len(self._watches) / s.max_poll_rate)  # protect the service
        return watch.last_poll + interval * watch.jitter

    def _ws_covers(self, watch: _Watch) -> bool:
        return watch.project_id is not None and self.is_subscribed(watch.project_id)

    async def _poll(self, watch: _Watch) -> WaitResult | None:
        loop = asyncio.get_running_loop()
        try:
            state = await self._client.file_status(watch.file_id)
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
            watch.errors += 1
            s = self._settings
            delay = floored_jitter(
                self._rng,
                watch.errors - 1,
                floor=s.poll_interval_min,
                cap=max(s.poll_interval_cap, s.poll_interval_min),
            )
            watch.retry_at = loop.time() + delay
            logger.warning(
                "status of file %s unavailable (%s); next try in %.1fs",
                watch.file_id,
                exc,
                delay,
            )
            return None
        watch.errors = 0
        watch.polls += 1
        self.status_polls += 1
        watch.last_poll = loop.time()
        watch.jitter = self._rng.uniform(0.8, 1.2)
        watch.last_state = state
        self._set_progress(watch, state.progress)
        if state.status is FileStatus.COMPLETED:
            return WaitResult(WaitOutcome.COMPLETED, state)
        if state.status is FileStatus.FAILED:
            reason = state.error or watch.event_error or "the service reported a failure"
            return WaitResult(WaitOutcome.FAILED, state, reason)
        return None

    def _finish(self, watch: _Watch, result: WaitResult) -> None:
        if not watch.result.done():
            watch.result.set_result(result)
        if self._watches.get(watch.file_id) is watch:
            del self._watches[watch.file_id]
            self._remove_project(watch)

    def _set_progress(self, watch: _Watch, percent: int) -> None:
        percent = min(max(percent, 0), 100)
        if percent <= watch.progress:
            return
        watch.progress = percent
        if not watch.progress_changed.done():
            watch.progress_changed.set_result(None)
        watch.progress_changed = asyncio.get_running_loop().create_future()

    def _reconcile_all(self) -> None:
        """Schedule one jittered poll of every already-polled file (events may be lost)."""
        now = asyncio.get_running_loop().time()
        spread = self._settings.reconcile_spread
        for watch in self._watches.values():
            if watch.polls or watch.errors:
                watch.reconcile_at = now + self._rng.uniform(0.0, spread)
            watch.wake.set()

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

    async def _ws_loop(self) -> None:
        s = self._settings
        loop = asyncio.get_running_loop()
        failures = 0
        ws_logger = HeaderRedactingAdapter(logging.getLogger("websockets.client"))
        while True:
            await self._ws_needed.wait()
            opened_at: float | None = None
            delay: float | None = None
            try:
                async with self._connect(
                    self._ws_url,
                    additional_headers={"Authorization": f"Bearer {s.token}"},
                    open_timeout=s.ws_open_timeout,
                    close_timeout=s.ws_close_timeout,
                    ping_interval=s.ping_interval or None,
                    ping_timeout=s.ping_timeout or None,
                    max_size=s.max_ws_message_bytes,
                    logger=ws_logger,
                ) as ws:
                    opened_at = loop.time()
                    await self._on_open(ws)
                    async for message in ws:
                        try:
                            self._handle_message(message)
                        except Exception:  # a bad event must never cost the connection
                            logger.exception("ignoring a WebSocket event that could not be handled")
                logger.info("WebSocket closed by the service; reconnecting")
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self._auth_refused = True
                    delay = s.auth_refused_retry
                    logger.warning(
                        "WebSocket handshake refused (HTTP %d): polling only, "
                        "retrying the WebSocket in %.0fs",
                        status,
                        delay,
                    )
                else:
                    logger.info("WebSocket handshake answered HTTP %d", status)
            except (OSError, TimeoutError, WebSocketException) as exc:
                logger.info("WebSocket connection lost or failed: %s", type(exc).__name__)
            except Exception:  # never let a surprise end the WebSocket for good
                logger.exception("unexpected WebSocket failure; reconnecting")
            finally:
                self._on_closed()
            if opened_at is not None and loop.time() - opened_at >= s.healthy_after:
                failures = 0
            failures += 1
            if delay is None:
                delay = floored_jitter(
                    self._rng, failures - 1, floor=s.reconnect_floor, cap=s.reconnect_cap
                )
            await asyncio.sleep(delay)
            if not self._project_files:
                self._ws_needed.clear()

    async def _on_open(self, ws: ClientConnection) -> None:
        self.connections += 1
        self._auth_refused = False
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

    def _remember_early(self, file_id: str) -> None:
        self._early_terminal[file_id] = None
        self._early_terminal.move_to_end(file_id)
        while len(self._early_terminal) > _MAX_REMEMBERED_SUBMISSIONS:
            self._early_terminal.popitem(last=False)

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
            self._remember_early(file_id)  # a wait may be about to start for it
        if watch is None or watch.result.done():
            return  # unknown, late or duplicate
        project_id = event.get("project_id")
        if watch.project_id is not None and project_id != watch.project_id:
            return
        progress = event.get("progress")
        if _is_percent(progress):
            self._set_progress(watch, int(progress))
        if kind == EVENT_PROGRESS:
            return
        error = event.get("error")
        if kind == EVENT_FAILED and isinstance(error, str) and error:
            watch.event_error = error[:500]
        watch.event_said_terminal = True
        watch.poll_now = True  # confirm over HTTP, which also gives the URL
        watch.wake.set()


async def _call_progress(
    callback: PercentCallback, percent: int, file_id: str, deadline: float
) -> None:
    """Run a progress callback; its failures are logged, and it cannot outlast the wait."""
    try:
        async with asyncio.timeout_at(deadline):
            await callback(percent)
    except asyncio.CancelledError:
        raise
    except Exception:  # TimeoutError included
        logger.exception("progress callback for file %s failed", file_id)


def _is_percent(value: object) -> TypeGuard[int | float]:
    """A finite JSON number (bools excluded)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
