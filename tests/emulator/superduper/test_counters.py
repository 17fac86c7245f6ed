"""``emu.counters``: what the emulator served, refused requests included."""

from __future__ import annotations

from emulator.superduper import Emulator

from .helpers import (
    PROJECT_BODY,
    create_project,
    drain_until_pong,
    generate,
    http_client,
    subscribe,
    wait_until,
    ws_connect,
)


async def test_counters_count_routes_connections_and_messages(emu: Emulator) -> None:
    emu.config.manual_completion = True
    async with http_client(emu, Authorization="Bearer wrong") as stranger:
        await stranger.post("/api/projects", json=PROJECT_BODY)
    async with http_client(emu) as http:
        project_id = await create_project(http)
        await http.get(f"/api/projects/{project_id}")
        [file_id] = await generate(http, project_id)
        await http.get(f"/api/files/{file_id}")
        await http.get("/nowhere")
        async with ws_connect(emu) as ws:
            assert emu.counters.ws_open == 1
            await subscribe(ws, project_id)
            await emu.finish(file_id)
            await drain_until_pong(ws)
        await http.get(f"/media/{file_id}.png")

    assert emu.counters.requests == {
        "POST /api/projects": 2,
        "GET /api/projects/{id}": 1,
        "POST /api/generation/image": 1,
        "GET /api/files/{id}": 1,
        "GET /media/{name}": 1,
        "GET /ws": 1,
        "GET (unmatched)": 1,
    }
    assert emu.counters.ws_connections == 1
    assert emu.counters.ws_messages_sent == 3  # subscribed, completed, pong
    await wait_until(lambda: emu.counters.ws_open == 0)
