"""The cap on requests in flight (``bot/backend/retry.py``'s ``InFlight``): when requests
queue, those that finish work under way go first, each kind in arrival order."""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Coroutine
from typing import Any

import httpx
import pytest

from bot.backend.pacing import DEFAULT_BURST, PacedLane
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


class _Recorded:
    """An admission that records its calls and can hold a request before its slot."""

    def __init__(self, seen: list[str]) -> None:
        self.seen = seen
        self.at_entry = asyncio.Event()
        self.open = asyncio.Event()
        self.open.set()

    async def enter(self) -> None:
        self.seen.append("enter")
        self.at_entry.set()
        await self.open.wait()

    def leave(self) -> None:
        self.seen.append("leave")


async def _no_pause(seconds: float) -> None:
    return None


def _retrier(slots: int) -> Retrier:
    timings = ServiceTimings(max_concurrent_requests=slots, retry_attempts=2, retry_base=0.0)
    return Retrier(timings, rng=random.Random(1), sleep=_no_pause, wall_clock=lambda: 0.0)


async def test_each_attempt_passes_its_admission_before_it_takes_a_slot() -> None:
    seen: list[str] = []
    answers = iter([503, 200])

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append("sent")
        return httpx.Response(next(answers))

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        response = await _retrier(1).send(
            http,
            lambda: http.build_request("GET", "http://service/poll"),
            label="GET /poll",
            idempotent=True,
            admission=_Recorded(seen),
        )

    assert response.status_code == 200
    assert seen == ["enter", "leave", "sent", "enter", "leave", "sent"]  # the retry too


async def test_a_request_held_at_its_admission_holds_no_slot() -> None:
    """A rate-capped poll waiting for its token must not keep submissions from the slots."""
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(f"sent {request.url.path}")
        return httpx.Response(200)

    held = _Recorded(seen)
    held.open.clear()
    retrier = _retrier(1)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:

        def send(path: str, admission: _Recorded | None) -> Coroutine[Any, Any, httpx.Response]:
            return retrier.send(
                http,
                lambda: http.build_request("GET", f"http://service{path}"),
                label=f"GET {path}",
                idempotent=True,
                admission=admission,
            )

        poll = asyncio.create_task(send("/poll", held))
        await held.at_entry.wait()
        assert (await send("/submit", None)).status_code == 200  # the one slot was free
        held.open.set()
        assert (await poll).status_code == 200

    assert seen == ["enter", "sent /submit", "leave", "sent /poll"]


@pytest.mark.parametrize("rate", [1000.0, 200.0, 20.0, 2.0])
def test_a_paced_lane_lets_out_no_more_at_once_than_a_pacer_of_its_rate(rate: float) -> None:
    """Tokens saved up plus requests holding one while they wait for a slot: what can
    leave at once, at most the 0.1 s burst a ``Pacer`` of that rate hands out (or one)."""
    lane = PacedLane(rate, max_size=32)
    assert lane.size >= 1
    assert lane.size + lane.capacity <= max(rate * DEFAULT_BURST, 2.0)
