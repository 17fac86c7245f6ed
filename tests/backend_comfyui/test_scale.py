"""A thousand jobs at once on two hosts: one WebSocket per host, the queue looked at in
shared requests, every job delivered."""

from __future__ import annotations

import asyncio

from bot.backend.types import OutcomeStatus
from tests.support.comfyui import host_of

from .conftest import MakeBackend, StartComfy
from .helpers import HISTORY, POST_PROMPT, QUEUE, connected, request

JOBS = 1000


async def test_a_thousand_concurrent_jobs_share_one_websocket_per_host(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    hosts = [await start_comfy(step_time=0.0), await start_comfy(step_time=0.0)]
    backend = await make_backend(hosts, safety_net_poll=30.0, default_wait_timeout=60.0)
    await connected(backend)

    async def job(index: int) -> tuple[str, OutcomeStatus]:
        ticket = await backend.plan(scope=None, client_key=f"job-{index}")
        generation = request(f"job {index}", seed=index, width=16, height=16, steps=1)
        handle = await backend.submit(generation, ticket=ticket)
        return host_of(handle), (await backend.wait(handle, timeout=60)).status

    results = await asyncio.gather(*(job(i) for i in range(JOBS)))

    assert [status for _, status in results] == [OutcomeStatus.COMPLETED] * JOBS
    for emu in hosts:
        assert emu.counters.ws_connections == 1
        jobs_here = sum(1 for host, _ in results if host == emu.base_url)
        assert jobs_here > JOBS // 4
        assert emu.counters.requests[QUEUE] < 50  # shared, not one per job
        # one look before its POST, one confirmation after its end event: no polling
        assert emu.counters.requests[HISTORY] <= 2 * jobs_here
    assert sum(emu.counters.requests[POST_PROMPT] for emu in hosts) == JOBS
