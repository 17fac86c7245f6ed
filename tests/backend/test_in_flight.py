"""The cap on requests in flight (``bot/backend/retry.py``'s ``InFlight``): when requests
queue, those that finish work under way go first, each kind in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Callable

import httpx

from bot.backend.retry import InFlight, Retrier
from bot.backend.timings import ServiceTimings


async def test_queued_finishing_requests_go_before_new_work_each_in_arrival_order() -> None:
    slots = InFlight(1)
    await slots.acquire()  # the one slot is busy
    served: list[str] = []

    async def request(name: str, *, finishing: bool) -> None:
        await slots.acquire(finishing=finishing)
        served.append(name)
        slots.release()

    queued = [
        asyncio.create_task(request("submit 1", finishing=False)),
        asyncio.create_task(request("submit 2", finishing=False)),
        asyncio.create_task(request("poll 1", finishing=True)),
        asyncio.create_task(request("download 1", finishing=True)),
    ]
    await asyncio.sleep(0)  # every task reaches its acquire (one step each on this loop)
    slots.release()
    await asyncio.gather(*queued)

    assert served == ["poll 1", "download 1", "submit 1", "submit 2"]


async def test_a_waiter_cancelled_in_the_queue_or_on_its_turn_loses_no_slot() -> None:
    slots = InFlight(1)
    await slots.acquire()
    gone = asyncio.create_task(slots.acquire(finishing=True))
    granted_then_cancelled = asyncio.create_task(slots.acquire())
    await asyncio.sleep(0)
    gone.cancel()
    slots.release()  # hands the slot to the second waiter...
    granted_then_cancelled.cancel()  # ...which is cancelled before it runs: passed on
    for task in (gone, granted_then_cancelled):
        with contextlib.suppress(asyncio.CancelledError):
            await task

    await asyncio.wait_for(slots.acquire(), timeout=1)  # the slot is free again


async def test_a_gated_request_waits_at_its_gate_holding_its_slot_each_attempt() -> None:
    """The watcher's rate cap is counted where polls leave: the gate is passed after the
    in-flight slot is held, right before the request goes out, once per attempt."""
    timings = ServiceTimings(max_concurrent_requests=1, retry_attempts=2, retry_base=0.0)
    retrier = Retrier(timings, rng=random.Random(1), sleep=_no_pause, wall_clock=lambda: 0.0)
    seen: list[str] = []
    answers = iter([503, 200, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"sent {request.url.path}")
        return httpx.Response(next(answers))

    at_gate, opened = asyncio.Event(), asyncio.Event()

    async def gate() -> None:
        seen.append("gate")
        at_gate.set()
        await opened.wait()

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        def build(path: str) -> Callable[[], httpx.Request]:
            return lambda: http.build_request("GET", f"http://service{path}")

        gated = asyncio.create_task(
            retrier.send(http, build("/poll"), label="GET /poll", idempotent=True, gate=gate)
        )
        other = asyncio.create_task(
            retrier.send(http, build("/other"), label="GET /other", idempotent=True)
        )
        await at_gate.wait()
        for _ in range(5):  # the one slot stays with the poll at its gate
            await asyncio.sleep(0)
        assert seen == ["gate"] and not other.done()
        opened.set()
        assert (await gated).status_code == 200
        assert (await other).status_code == 200

    # the retry gave its slot back while it paused; its second attempt passed the gate again
    assert seen == ["gate", "sent /poll", "sent /other", "gate", "sent /poll"]


async def _no_pause(seconds: float) -> None:
    return None
