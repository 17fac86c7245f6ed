"""The WebSocket fault knobs: refusals, early closes, drops, duplicates, reordering."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from emulator.superduper import Emulator

from .helpers import (
    StartEmulator,
    create_project,
    drain_until_pong,
    generate,
    http_client,
    recv_json,
    subscribe,
    wait_until,
    ws_connect,
)


@pytest.mark.parametrize(
    ("knob", "status"), [({"ws_reject_401": True}, 401), ({"ws_available": False}, 503)]
)
async def test_handshake_refusals_with_a_good_token(
    start_emulator: StartEmulator, knob: dict[str, bool], status: int
) -> None:
    emu = await start_emulator(**knob)
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(emu):
            pass
    assert refused.value.response.status_code == status
    assert (emu.counters.ws_connections, emu.counters.requests["GET /ws"]) == (0, 1)


async def test_knobs_changed_at_runtime_apply_to_later_connections(emu: Emulator) -> None:
    async with ws_connect(emu) as before:
        emu.config.ws_available = False
        with pytest.raises(InvalidStatus):
            async with ws_connect(emu):
                pass
        assert await drain_until_pong(before) == []


async def test_accept_then_close(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(ws_accept_then_close=True)
    async with ws_connect(emu) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1011
    assert emu.counters.ws_connections == 1
    await wait_until(lambda: emu.counters.ws_open == 0)


async def test_close_after_closes_each_connection(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(ws_close_after=0.1)
    async with ws_connect(emu) as ws:
        with pytest.raises(ConnectionClosed) as closed:
            while True:
                await ws.recv()
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1001
    await wait_until(lambda: emu.counters.ws_open == 0)


async def test_drop_websockets_cuts_connections_without_a_close_frame(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    async with ws_connect(emu) as first, ws_connect(emu) as second:
        await wait_until(lambda: emu.counters.ws_open == 2)
        await emu.drop_websockets()
        for ws in (first, second):
            with pytest.raises(ConnectionClosed) as closed:
                await recv_json(ws)
            assert closed.value.rcvd is None
    await wait_until(lambda: emu.counters.ws_open == 0)
    project_id = await create_project(http)
    async with ws_connect(emu) as again:
        await subscribe(again, project_id)
    assert emu.counters.ws_connections == 3


async def _events_for_one_file(emu: Emulator, progress: tuple[int, ...]) -> list[tuple[str, int]]:
    async with http_client(emu) as http:
        project_id = await create_project(http)
        async with ws_connect(emu) as ws:
            await subscribe(ws, project_id)
            [file_id] = await generate(http, project_id)
            for value in progress:
                await emu.report_progress(file_id, value)
            await emu.finish(file_id)
            return [(e["type"], e["progress"]) for e in await drain_until_pong(ws)]


async def test_drop_rate_one_sends_no_events(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(manual_completion=True, ws_drop_rate=1.0)
    assert await _events_for_one_file(emu, (25, 50)) == []


async def test_duplicate_rate_one_sends_every_event_twice(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(manual_completion=True, ws_duplicate_rate=1.0)
    assert await _events_for_one_file(emu, (50,)) == [
        ("generation.progress", 50),
        ("generation.progress", 50),
        ("generation.completed", 100),
        ("generation.completed", 100),
    ]


async def test_reorder_swaps_progress_and_sends_late_progress_after_completion(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(manual_completion=True, ws_reorder=True)
    assert await _events_for_one_file(emu, (25, 50, 75)) == [
        ("generation.progress", 50),
        ("generation.progress", 25),
        ("generation.completed", 100),
        ("generation.progress", 75),
    ]
