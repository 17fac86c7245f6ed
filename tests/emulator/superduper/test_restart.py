"""``restart`` loses state on the same port; counters survive it."""

from __future__ import annotations

import httpx
import pytest
from websockets.exceptions import ConnectionClosed

from emulator.superduper import Emulator

from .helpers import create_project, generate, recv_json, subscribe, ws_connect


async def test_restart_loses_projects_files_and_subscriptions(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    project_id = await create_project(manual_http, **{"Idempotency-Key": "k"})
    [file_id] = await generate(manual_http, project_id)
    port = manual_emu.port
    async with ws_connect(manual_emu) as ws:
        await subscribe(ws, project_id)
        await manual_emu.restart()
        with pytest.raises(ConnectionClosed) as closed:
            await recv_json(ws)
    assert closed.value.rcvd is not None
    assert closed.value.rcvd.code == 1012

    assert (await manual_http.get(f"/api/projects/{project_id}")).status_code == 404
    assert (await manual_http.get(f"/api/files/{file_id}")).status_code == 404
    assert manual_emu.projects == ()
    assert manual_emu.file_status(file_id) is None
    again = await manual_http.post(
        "/api/projects", json={"type": "image", "config": {}}, headers={"Idempotency-Key": "k"}
    )
    assert again.json()["id"] != project_id
    assert manual_emu.port == port
    assert manual_emu.counters.requests["POST /api/projects"] == 2
    assert manual_emu.counters.ws_connections == 1


async def test_timers_of_lost_files_do_not_fire_after_restart(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    project_id = await create_project(http)
    [lost] = await generate(http, project_id)
    await emu.restart()
    new_project = await create_project(http)
    async with ws_connect(emu) as ws:
        await subscribe(ws, new_project)
        [fresh] = await generate(http, new_project)
        while (event := await recv_json(ws))["type"] != "generation.completed":
            assert event["file_id"] == fresh
    assert event["file_id"] == fresh
    assert lost not in emu.completed_at
    assert emu.file_status(lost) is None
