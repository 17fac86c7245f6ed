"""Several hosts: the least busy takes a new job, a silent one takes none, and a job on a
host that stopped answering completes once it answers again."""

from __future__ import annotations

import asyncio

import pytest

from bot.backend.errors import BackendUnavailable
from bot.backend.types import OutcomeStatus
from tests.support.comfyui import host_of
from tests.support.waiting import until

from .conftest import MakeBackend, StartComfy
from .helpers import POST_PROMPT, connected, hold_host, running, submitted


async def test_a_new_job_goes_to_the_least_busy_host(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    busy = await start_comfy(manual_completion=True)
    idle = await start_comfy()
    await hold_host(busy)
    backend = await make_backend([busy, idle])
    await connected(backend)

    tickets = [await backend.plan(scope=None, client_key=f"k{i}") for i in range(3)]

    # busy has one job running; each planned job counts as one more (ties: the first host)
    assert [host_of(t) for t in tickets] == [idle.base_url, busy.base_url, idle.base_url]


async def test_a_host_that_stopped_answering_gets_no_new_job(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    first, second = await start_comfy(), await start_comfy()
    backend = await make_backend([first, second])
    await connected(backend)
    await second.stop()  # connections are refused from now on
    await until(lambda: not backend.hosts[1].connected)

    handles = [await submitted(backend, f"k{i}") for i in range(4)]

    assert {host_of(h) for h in handles} == {first.base_url}
    assert second.counters.requests[POST_PROMPT] == 0
    for handle in handles:
        assert (await backend.wait(handle, timeout=5)).status is OutcomeStatus.COMPLETED


async def test_no_host_answering_is_backend_unavailable_naming_the_setting(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    emu = await start_comfy()
    backend = await make_backend([emu])
    await emu.stop()

    with pytest.raises(BackendUnavailable) as caught:
        await backend.plan(scope=None, client_key="k")

    assert caught.value.setting == "COMFYUI_URLS"
    assert f"127.0.0.1:{emu.port}" in str(caught.value)


async def test_a_job_on_a_host_that_went_silent_and_came_back_completes(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    flaky = await start_comfy(manual_completion=True)
    steady = await start_comfy()
    backend = await make_backend([flaky, steady])
    await connected(backend)
    handle = await submitted(backend, "in-flight")
    assert host_of(handle) == flaky.base_url
    await running(flaky, handle)
    waiting = asyncio.create_task(backend.wait(handle, timeout=8))

    # flaky stops answering: every request 503, no WebSocket; its job goes on meanwhile
    flaky.config.http_5xx_rate = 1.0
    flaky.config.ws_available = False
    await flaky.drop_websockets()
    await until(lambda: not backend.hosts[0].connected)
    later = await submitted(backend, "during-the-outage")
    flaky.config.manual_completion = False
    flaky.release()
    await flaky.wait_idle()
    flaky.config.http_5xx_rate = 0.0
    flaky.config.ws_available = True

    assert (await waiting).status is OutcomeStatus.COMPLETED
    assert host_of(later) == steady.base_url
    assert (await backend.wait(later, timeout=5)).status is OutcomeStatus.COMPLETED
    assert flaky.counters.requests[POST_PROMPT] == 1
    assert flaky.counters.ws_connections == 2


async def test_one_host_is_labelled_by_its_address_several_by_their_number(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    first, second = await start_comfy(), await start_comfy()
    assert (await make_backend([first])).label == f"ComfyUI at 127.0.0.1:{first.port}"
    assert (await make_backend([first, second])).label == "ComfyUI (2 hosts)"


async def test_probe_names_a_silent_host_and_the_setting(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    first, second = await start_comfy(), await start_comfy()
    backend = await make_backend([first, second])
    await connected(backend)
    await second.stop()

    status = await backend.probe()

    assert status.reachable
    assert f"127.0.0.1:{second.port} is not answering" in status.detail
    assert "COMFYUI_URLS" in status.detail
    await first.stop()
    assert not (await backend.probe()).reachable
