"""The watcher against the emulator: lost events are found by polls aimed at overdue files,
and every poll no event asked for stays under the total rate cap. The schedule's decisions
themselves are ``test_poll_queue.py``'s, on a clock the test moves; here the emulator's
counters say what was asked."""

from __future__ import annotations

import asyncio

from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator

from .conftest import MakeBackend
from .helpers import DEADLINE, FILE_ROUTE, eventually, request


async def test_lost_events_cost_one_aimed_poll_each_not_a_sweep(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    # Nothing learned yet: the safety net aims at 1.5 x the expected time (0.3 s), after
    # every file is done (0.15-0.2 s after the emulator took it, which is before the bot
    # noted its submission): each file's first safety-net poll finds it completed.
    backend = await make_backend(expected_generation_time=0.2, safety_net_poll=5.0)
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [first] = await backend.submit(request(), project_id=project_id)
    assert (await backend.wait(first.id, project_id, timeout=5)).outcome is WaitOutcome.COMPLETED
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    emu.config.ws_drop_rate = 1.0
    emu.config.gen_time = (0.15, 0.2)
    polls_before = emu.counters.requests[FILE_ROUTE]

    batches = await asyncio.gather(
        *(backend.submit(request(), project_id=project_id) for _ in range(20))
    )
    results = await asyncio.gather(
        *(backend.wait(f.id, project_id, timeout=DEADLINE) for [f] in batches)
    )

    assert all(r.outcome is WaitOutcome.COMPLETED for r in results)
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 20  # one aimed poll each


async def test_polls_without_an_event_stay_under_the_total_rate_cap(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    """30 waits resumed at once (the bot did not submit them: each is due at once) with
    ``max_poll_rate`` = 20/s: the 30 polls take at least (30 - burst) / 20 s. A lower bound
    on the loop clock: load only makes it later, so this cannot flake."""
    emu.config.manual_completion = True
    submitter = await make_backend()
    files = [f for _ in range(30) for f in await submitter.submit(request(), project_id=None)]
    for f in files:
        await emu.finish(f.id)
    resumed = await make_backend(max_poll_rate=20.0, expected_generation_time=30.0)
    polls_before = emu.counters.requests[FILE_ROUTE]
    loop = asyncio.get_running_loop()
    started = loop.time()

    results = await asyncio.gather(*(resumed.wait(f.id, None, timeout=DEADLINE) for f in files))

    took = loop.time() - started
    assert all(r.outcome is WaitOutcome.COMPLETED for r in results)
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 30  # one each, all capped
    burst = 2  # Pacer: a tenth of a second's worth (2 at 20/s)
    assert took >= (30 - burst) / 20.0
