"""Cancel: a running job is interrupted, a pending one deleted from the queue."""

from __future__ import annotations

import httpx

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.types import OutcomeStatus
from emulator.comfyui import ComfyEmulator
from tests.support.comfyui import prompt_id_of

from .conftest import MakeBackend
from .helpers import hold_host, running, submitted


async def _queue(emu: ComfyEmulator) -> tuple[list[str], list[str]]:
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        data = (await http.get("/queue")).json()
    return [i[1] for i in data["queue_running"]], [i[1] for i in data["queue_pending"]]


async def test_cancelling_a_running_job_interrupts_it(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    comfy.config.manual_completion = True
    handle = await submitted(backend, "to-stop")
    await running(comfy, handle)

    assert await backend.cancel(handle) is True

    outcome = await backend.wait(handle, timeout=5)
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.reason == "it was stopped on the GPU server"
    assert comfy.counters.requests["POST /interrupt"] == 1


async def test_cancelling_a_pending_job_takes_it_off_the_queue(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    comfy.config.manual_completion = True
    blocker = await hold_host(comfy)
    handle = await submitted(backend, "to-drop")
    assert await _queue(comfy) == ([blocker], [prompt_id_of(handle)])

    assert await backend.cancel(handle) is True

    assert await _queue(comfy) == ([blocker], [])
    assert comfy.counters.requests["POST /interrupt"] == 0  # the blocker runs on
    assert comfy.running_prompt_id == blocker


async def test_a_finished_job_or_an_unsent_ticket_has_nothing_to_cancel(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend()
    done = await submitted(backend, "done")
    assert (await backend.wait(done, timeout=5)).status is OutcomeStatus.COMPLETED
    ticket = await backend.plan(scope=None, client_key="never-sent")

    assert await backend.cancel(done) is False
    assert await backend.cancel(ticket) is False
    assert comfy.counters.requests["POST /interrupt"] == 0
    assert comfy.counters.requests["POST /queue"] == 0
