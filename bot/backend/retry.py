"""One HTTP request with the backends' retry policy (shared by every backend's client):
``Retrier.send`` (a deadline per attempt, a cap on requests in flight) over ``send_with_retries``.

Per call, ``timings.retry_attempts`` attempts in all, full-jitter exponential backoff,
``Retry-After`` honoured and capped:

* idempotent calls are retried on connection errors, timeouts, 5xx and 429;
* a call that is *not* idempotent is retried only when the request provably did not start
  work: the connection was never made (connect error/timeout, pool timeout), or the answer
  was 429 (rate-limited before processing) or 503 (refused before processing). Any other
  5xx, a read timeout or a dropped connection after sending raise ``BackendUnavailable``
  at once ("the service may have received it").

401/403 raise ``AuthRefused``; other statuses are returned for the caller to interpret.
Credentials are the caller's business: they are never in a label, a log line or a message."""

from __future__ import annotations

import asyncio
import logging
import random
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Final, Protocol

import httpx

from bot.backend.backoff import full_jitter, parse_retry_after
from bot.backend.errors import AuthRefused, BackendUnavailable

logger = logging.getLogger(__name__)

Sleep = Callable[[float], Awaitable[None]]
WallClock = Callable[[], float]
ServerErrorHook = Callable[[int, str], None]


class Admission(Protocol):
    """Awaited by each attempt before it queues for an in-flight slot (``enter``), told once
    it has the slot or gave up (``leave``): e.g. ``pacing.PacedLane``."""

    async def enter(self) -> None: ...

    def leave(self) -> None: ...


"""Sees a 5xx/429 status and (up to 64 KiB of) its body; may raise a more specific error."""

NOT_STARTED_ERRORS: Final = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
RETRYABLE_BEFORE_PROCESSING: Final = frozenset({429, 503})


class RetryTimings(Protocol):
    @property
    def request_timeout(self) -> float: ...
    @property
    def max_concurrent_requests(self) -> int: ...
    @property
    def retry_attempts(self) -> int: ...
    @property
    def retry_base(self) -> float: ...
    @property
    def retry_cap(self) -> float: ...
    @property
    def retry_after_cap(self) -> float: ...


class InFlight:
    """At most ``limit`` requests at once; when they queue, those that finish work under
    way (``finishing``: a status poll, a download) go before those that start new work (a
    submission), each kind in arrival order. Without it, a burst of submissions makes the
    poll that confirms a finished image wait behind all of them."""

    def __init__(self, limit: int) -> None:
        self._free = limit
        self._waiting: tuple[deque[asyncio.Future[None]], ...] = (deque(), deque())

    async def acquire(self, *, finishing: bool = False) -> None:
        if self._free > 0 and not (self._waiting[0] or self._waiting[1]):
            self._free -= 1
            return
        queue = self._waiting[0 if finishing else 1]
        turn: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.append(turn)
        try:
            await turn
        except asyncio.CancelledError:
            if turn.done() and not turn.cancelled():
                self.release()  # granted just as we were cancelled: pass it on
            elif turn in queue:
                queue.remove(turn)
            raise

    def release(self) -> None:
        for queue in self._waiting:
            while queue:
                turn = queue.popleft()
                if not turn.done():
                    turn.set_result(None)
                    return
        self._free += 1


class Retrier:
    """The policy bound to one service (or host): its timings, RNG, pause and wall clock, a
    deadline per attempt and a cap on the requests in flight at once (``InFlight``)."""

    def __init__(
        self, timings: RetryTimings, *, rng: random.Random, sleep: Sleep, wall_clock: WallClock
    ) -> None:
        self._timings = timings
        self._rng = rng
        self._sleep = sleep
        self._wall_clock = wall_clock
        self._in_flight = InFlight(timings.max_concurrent_requests)

    async def send(
        self,
        http: httpx.AsyncClient,
        build: Callable[[], httpx.Request],
        *,
        label: str,
        idempotent: bool,
        stream: bool = False,
        attempts: int | None = None,
        server_error: ServerErrorHook | None = None,
        finishing: bool = False,
        admission: Admission | None = None,
    ) -> httpx.Response:
        """Send the request ``build`` makes (anew for each attempt) under the policy; redirects
        are never followed. ``label`` ("GET /path") names it in logs and errors;
        ``finishing`` puts it ahead of other queued requests (see ``InFlight``); every
        attempt passes ``admission`` on its way to a slot."""

        async def attempt() -> httpx.Response:
            request = build()
            if admission is None:
                await self._in_flight.acquire(finishing=finishing)
            else:
                await admission.enter()
                try:
                    await self._in_flight.acquire(finishing=finishing)
                finally:
                    admission.leave()
            try:
                async with asyncio.timeout(self._timings.request_timeout):
                    return await http.send(request, stream=stream, follow_redirects=False)
            finally:
                self._in_flight.release()

        return await send_with_retries(
            attempt,
            label=label,
            timings=self._timings,
            idempotent=idempotent,
            rng=self._rng,
            sleep=self._sleep,
            wall_clock=self._wall_clock,
            attempts=attempts,
            server_error=server_error,
        )


async def send_with_retries(
    attempt: Callable[[], Awaitable[httpx.Response]],
    *,
    label: str,
    timings: RetryTimings,
    idempotent: bool,
    rng: random.Random,
    sleep: Sleep,
    wall_clock: WallClock,
    attempts: int | None = None,
    server_error: ServerErrorHook | None = None,
) -> httpx.Response:
    """Run ``attempt`` (one request) under the retry policy; ``label`` ("GET /path") names
    it in logs and errors. ``attempts`` overrides ``timings.retry_attempts``."""
    total = attempts if attempts is not None else timings.retry_attempts
    problem = "no attempt"
    for number in range(total):
        last = number == total - 1
        retry_after: float | None = None
        try:
            response = await attempt()
        except NOT_STARTED_ERRORS as exc:
            problem = f"could not connect ({type(exc).__name__})"
        except (httpx.RequestError, TimeoutError) as exc:
            problem = f"{type(exc).__name__} after sending"
            if not idempotent:
                raise BackendUnavailable(
                    f"{label}: {problem}; not retried, the service may have received it"
                ) from None
        else:
            status = response.status_code
            if status in (401, 403):
                await response.aclose()
                raise AuthRefused(f"{label}: the service refused our credentials ({status})")
            if status < 500 and status != 429:
                return response
            body = await peek_text(response)
            if server_error is not None:
                server_error(status, body)
            problem = f"HTTP {status}"
            if not idempotent and status not in RETRYABLE_BEFORE_PROCESSING:
                raise BackendUnavailable(
                    f"{label}: {problem}; not retried, the service may have started it"
                )
            retry_after = parse_retry_after(
                response.headers.get("Retry-After"), now=wall_clock(), cap=timings.retry_after_cap
            )
        if last:
            break
        delay = (
            retry_after
            if retry_after is not None
            else full_jitter(rng, number, base=timings.retry_base, cap=timings.retry_cap)
        )
        logger.info(
            "%s: %s (attempt %d/%d), retrying in %.2fs", label, problem, number + 1, total, delay
        )
        await sleep(delay)
    raise BackendUnavailable(f"{label}: {problem} after {total} attempt(s)")


async def peek_text(response: httpx.Response, limit: int = 64 * 1024) -> str:
    """Read at most ``limit`` bytes of an error body and close the response."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_bytes():
            chunks.append(chunk)
            size += len(chunk)
            if size >= limit:
                break
    except httpx.HTTPError:
        pass
    finally:
        await response.aclose()
    return b"".join(chunks)[:limit].decode("utf-8", "replace")
