"""``/ws``: subscriptions, events only for subscribed projects, never for project-less files."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.asyncio.client import ClientConnection

from emulator.superduper import Emulator

from .helpers import (
    create_project,
    drain_until_pong,
    generate,
    recv_json,
    subscribe,
    wait_until,
    ws_connect,
)


async def test_events_go_only_to_subscribers_of_the_files_project(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    mine = await create_project(manual_http)
    theirs = await create_project(manual_http)
    async with ws_connect(manual_emu) as ws, ws_connect(manual_emu) as idle:
        await subscribe(ws, mine)
        [file_mine] = await generate(manual_http, mine)
        [file_theirs] = await generate(manual_http, theirs)
        [file_loose] = await generate(manual_http, None)
        for file_id in (file_mine, file_theirs, file_loose):
            await manual_emu.report_progress(file_id, 50)
            await manual_emu.finish(file_id)

        events = await drain_until_pong(ws)
        assert await drain_until_pong(idle) == []

    assert events == [
        {
            "type": "generation.progress",
            "project_id": mine,
            "file_id": file_mine,
            "progress": 50,
            "url": None,
            "error": None,
        },
        {
            "type": "generation.completed",
            "project_id": mine,
            "file_id": file_mine,
            "progress": 100,
            "url": f"{manual_emu.base_url}/media/{file_mine}.png",
            "error": None,
        },
    ]


async def test_project_less_files_never_send_events_even_with_timers(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    project_id = await create_project(http)
    async with ws_connect(emu) as ws:
        await subscribe(ws, project_id)
        loose = await generate(http, None, batch_size=4)
        [tracked] = await generate(http, project_id)

        kinds = []
        while (event := await recv_json(ws))["type"] != "generation.completed":
            kinds.append((event["type"], event["progress"]))
        assert event["file_id"] == tracked
        await wait_until(lambda: all(emu.file_status(f) == "completed" for f in loose))
        assert await drain_until_pong(ws) == []

    assert kinds == [("generation.progress", p) for p in (25, 50, 75)]


async def test_failed_files_send_generation_failed(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    project_id = await create_project(manual_http)
    async with ws_connect(manual_emu) as ws:
        await subscribe(ws, project_id)
        [file_id] = await generate(manual_http, project_id)
        await manual_emu.finish(file_id, error="content policy violation")
        [event] = await drain_until_pong(ws)
    assert (event["type"], event["file_id"], event["error"], event["url"]) == (
        "generation.failed",
        file_id,
        "content policy violation",
        None,
    )


async def test_unsubscribe_stops_events_and_each_subscriber_gets_its_copy(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    project_id = await create_project(manual_http)
    async with ws_connect(manual_emu) as leaver, ws_connect(manual_emu) as stayer:
        await subscribe(leaver, project_id)
        await subscribe(stayer, project_id)
        await leaver.send(json.dumps({"type": "unsubscribe", "project_id": project_id}))
        assert await recv_json(leaver) == {"type": "unsubscribed", "project_id": project_id}
        [file_id] = await generate(manual_http, project_id)
        await manual_emu.finish(file_id)

        assert await drain_until_pong(leaver) == []
        assert [e["type"] for e in await drain_until_pong(stayer)] == ["generation.completed"]


async def _expect_error(ws: ClientConnection, message: str | bytes) -> None:
    await ws.send(message)
    reply = await recv_json(ws)
    assert reply["type"] == "error"
    assert isinstance(reply["detail"], str)


@pytest.mark.parametrize(
    "message",
    [
        "not json",
        "[1, 2]",
        '{"type": "dance"}',
        '{"type": "subscribe"}',
        '{"type": "subscribe", "project_id": 7}',
        b"\x00binary",
    ],
    ids=["not-json", "array", "unknown-type", "no-project", "project-not-string", "binary"],
)
async def test_malformed_messages_get_an_error_and_the_socket_stays_usable(
    manual_emu: Emulator, manual_http: httpx.AsyncClient, message: str | bytes
) -> None:
    project_id = await create_project(manual_http)
    async with ws_connect(manual_emu) as ws:
        await _expect_error(ws, message)
        await subscribe(ws, project_id)
        [file_id] = await generate(manual_http, project_id)
        await manual_emu.finish(file_id)
        assert [e["file_id"] for e in await drain_until_pong(ws)] == [file_id]
    assert manual_emu.counters.ws_connections == 1
