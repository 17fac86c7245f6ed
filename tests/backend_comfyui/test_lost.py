"""``/history/{id}`` is ``{}`` for pending and unknown jobs alike: ``/queue`` tells them apart."""

from __future__ import annotations

import asyncio

from bot.backend.types import OutcomeStatus
from emulator.comfyui import ComfyEmulator
from tests.support.waiting import until

from .conftest import MakeBackend, StartComfy
from .helpers import HISTORY, QUEUE, connected, hold_host, request, running, submitted


async def test_a_pending_job_is_waited_for_not_taken_for_lost(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    emu = await start_comfy(manual_completion=True, ws_available=False)  # polling only
    blocker = await hold_host(emu)
    backend = await make_backend([emu])
    handle = await submitted(backend, "queued-behind")
    looks = emu.counters.requests[QUEUE]  # the submission's
    waiting = asyncio.create_task(backend.wait(handle, timeout=10))

    # One poll task per job: a second poll's look at the queue means the first one's
    # answer ("pending") was handled, and the job kept, not taken for lost.
    await until(lambda: emu.counters.requests[QUEUE] >= looks + 2 or waiting.done())
    assert not waiting.done()
    emu.config.manual_completion = False
    emu.release(blocker)
    assert (await waiting).status is OutcomeStatus.COMPLETED


async def test_a_job_the_host_forgot_ends_in_a_clear_failure(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    comfy.config.manual_completion = True
    await hold_host(comfy)
    comfy.config.ws_available = False
    backend = await make_backend()
    handle = await submitted(backend, "forgotten")
    await comfy.restart()  # the queue is gone, and the job with it

    outcome = await backend.wait(handle, timeout=5)

    assert outcome.status is OutcomeStatus.FAILED
    assert f"GPU server (127.0.0.1:{comfy.port}) restarted and lost this job" in outcome.reason
    assert [r.error for r in outcome.results] == [outcome.reason]


async def test_a_comfyui_restart_mid_job_fails_the_job_at_once_through_the_reconciliation(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    emu = await start_comfy(manual_completion=True)
    backend = await make_backend([emu], safety_net_poll=30.0, poll_interval_cap=30.0)
    await connected(backend)
    handle = await submitted(backend, "mid-job", request())
    await running(emu, handle)
    waiting = backend.wait(handle, timeout=8)

    await emu.restart()
    outcome = await waiting

    # Polls are 30 s apart: the reconciliation after the socket dropped found it out.
    assert outcome.status is OutcomeStatus.FAILED
    assert "restarted and lost this job" in outcome.reason
    assert emu.counters.requests[HISTORY] >= 2  # the look before the POST, the reconciliation
