"""The cap on requests in flight (``bot/backend/retry.py``'s ``InFlight``): when requests
queue, those that finish work under way go first, each kind in arrival order."""

from __future__ import annotations

import asyncio
import contextlib

from bot.backend.retry import InFlight


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
