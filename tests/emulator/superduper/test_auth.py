"""Every route needs ``Authorization: Bearer <token>``; the WebSocket handshake too."""

from __future__ import annotations

import pytest
from websockets.exceptions import InvalidStatus

from emulator.superduper import Emulator

from .helpers import (
    PROJECT_BODY,
    create_project,
    generate,
    http_client,
    wait_for_status,
    ws_connect,
)

ROUTES = [
    ("POST", "/api/projects", PROJECT_BODY),
    ("GET", "/api/projects/00000000-0000-4000-8000-000000000000", None),
    ("POST", "/api/generation/image", {"prompt": "x"}),
    ("GET", "/api/files/00000000-0000-4000-8000-000000000000", None),
    ("GET", "/media/00000000-0000-4000-8000-000000000000.png", None),
]


@pytest.mark.parametrize(("method", "path", "body"), ROUTES)
@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer wrong-token"}, {"Authorization": "Basic dGVzdC10b2tlbg=="}],
    ids=["missing", "wrong-token", "wrong-scheme"],
)
async def test_http_routes_refuse_a_missing_or_wrong_token(
    emu: Emulator, method: str, path: str, body: object, headers: dict[str, str]
) -> None:
    async with http_client(emu, **{"X-Nothing": "1"}) as client:
        response = await client.request(method, path, json=body, headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"
    assert "detail" in response.json()
    assert "wrong-token" not in response.text
    assert emu.projects == ()


async def test_the_result_image_needs_the_token_too(emu: Emulator) -> None:
    async with http_client(emu) as client:
        [file_id] = await generate(client)
        url = (await wait_for_status(client, file_id, "completed"))["url"]
        async with http_client(emu, Authorization="Bearer nope") as stranger:
            refused = await stranger.get(url)
        allowed = await client.get(url)
    assert refused.status_code == 401
    assert allowed.status_code == 200


@pytest.mark.parametrize("token", ["wrong-token", ""])
async def test_websocket_handshake_is_refused_before_upgrading(emu: Emulator, token: str) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with ws_connect(emu, token=token):
            pass
    assert refused.value.response.status_code == 401
    assert emu.counters.ws_connections == 0
    assert emu.counters.requests["GET /ws"] == 1


async def test_a_good_token_is_accepted_everywhere(emu: Emulator) -> None:
    async with http_client(emu) as client:
        project_id = await create_project(client)
        assert (await client.get(f"/api/projects/{project_id}")).status_code == 200
    async with ws_connect(emu):
        pass
    assert emu.counters.ws_connections == 1
