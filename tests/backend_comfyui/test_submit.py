"""Submission: exactly once on a service that queues a reused ``prompt_id`` again, and
refusals worded for people."""

from __future__ import annotations

import httpx
import pytest

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.comfyui.settings import CHECKPOINT_SETTING, WORKFLOW_SETTING
from bot.backend.errors import InvalidRequest
from bot.backend.types import OutcomeStatus
from emulator.comfyui import ComfyEmulator
from tests.support.comfyui import MemoryValues, prompt_id_of

from .conftest import MakeBackend
from .helpers import POST_PROMPT, ScriptedPosts, hold_host, request, submitted


async def test_an_unknown_checkpoint_is_refused_with_a_message_naming_it(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(checkpoint="missing.safetensors")
    ticket = await backend.plan(scope=None, client_key="k")

    with pytest.raises(InvalidRequest) as caught:
        await backend.submit(request(), ticket=ticket)

    message = str(caught.value)
    assert f"the checkpoint 'missing.safetensors' is not installed on 127.0.0.1:{comfy.port}" in (
        message
    )
    assert 'CheckpointLoaderSimple "imagine:checkpoint" (node 4), input ckpt_name' in message
    assert "Value not in list" in message
    assert caught.value.setting == CHECKPOINT_SETTING
    assert caught.value.service == f"ComfyUI at 127.0.0.1:{comfy.port}"


async def test_a_value_out_of_range_names_the_node_the_input_and_comfyuis_message(
    backend: ComfyUIBackend,
) -> None:
    ticket = await backend.plan(scope=None, client_key="k")

    with pytest.raises(InvalidRequest) as caught:
        await backend.submit(request(steps=10001), ticket=ticket)

    assert str(caught.value) == (
        'KSampler "imagine:sampler" (node 3), input steps: Value 10001 bigger than max of 10000'
    )
    assert caught.value.setting == WORKFLOW_SETTING


async def test_a_resume_after_the_post_landed_does_not_queue_it_again(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    comfy.config.manual_completion = True
    blocker = await hold_host(comfy)
    values = MemoryValues()
    crashed = await make_backend(values=values)
    ticket = await crashed.plan(scope=None, client_key="job-7")
    await crashed.submit(request(), ticket=ticket)  # the POST landed; its handle was never saved
    await crashed.aclose()

    resumed = await make_backend(values=values)
    pending = await resumed.submit(request(), ticket=ticket)  # the job is pending
    comfy.config.manual_completion = False
    comfy.release(blocker)
    outcome = await resumed.wait(pending, timeout=5)
    finished = await resumed.submit(request(), ticket=ticket)  # the job is in the history

    assert outcome.status is OutcomeStatus.COMPLETED
    assert comfy.counters.requests[POST_PROMPT] == 2  # the blocker's and ours, once
    assert comfy.counters.prompts_executed == 2
    assert prompt_id_of(pending) == prompt_id_of(finished) == prompt_id_of(ticket)


@pytest.mark.parametrize(
    "script",
    [
        pytest.param(("answer-lost",), id="reached-the-host-answer-lost"),
        pytest.param(("refused", "timed-out"), id="never-reached-the-host"),
    ],
)
async def test_a_post_that_failed_on_the_way_is_on_the_host_once(
    comfy: ComfyEmulator, make_backend: MakeBackend, script: tuple[str, ...]
) -> None:
    async with httpx.AsyncClient(transport=ScriptedPosts(*script)) as http:
        backend = await make_backend(http=http)

        handle = await submitted(backend, "failed-on-the-way")
        outcome = await backend.wait(handle, timeout=5)

        assert outcome.status is OutcomeStatus.COMPLETED
        assert comfy.counters.requests[POST_PROMPT] == 1
        assert comfy.counters.prompts_executed == 1


async def test_a_ticket_planned_before_a_crash_is_submitted_once_on_resume(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    values = MemoryValues()
    crashed = await make_backend(values=values)
    ticket = await crashed.plan(scope=None, client_key="planned-only")
    await crashed.aclose()

    resumed = await make_backend(values=values)
    handle = await resumed.submit(request(), ticket=ticket)

    assert (await resumed.wait(handle, timeout=5)).status is OutcomeStatus.COMPLETED
    assert comfy.counters.requests[POST_PROMPT] == 1
