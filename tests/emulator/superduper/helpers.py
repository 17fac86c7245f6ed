"""Helpers for the emulator's tests: plain httpx / websockets clients, polling with deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from emulator.superduper import Emulator
from tests.support.waiting import until

TOKEN = "test-token"
DEADLINE = 10.0
RECV_TIMEOUT = 5.0
AUTH = {"Authorization": f"Bearer {TOKEN}"}
PROJECT_BODY: dict[str, Any] = {
    "type": "image",
    "template_name": None,
    "config": {
        "prompt": "Auto-created for chat",
        "negative_prompt": "",
        "width": 1024,
        "height": 1024,
        "steps": 20,
        "shot_size": "Medium Shot",
        "seed": 123456789,
        "generation_config_name": "comfyui/flux",
        "batch_size": 1,
        "style_name": "real_estate",
        "references": [],
        "entity_ids": [],
        "model_type": None,
    },
}

StartEmulator = Callable[..., Awaitable[Emulator]]
WsConnect = Callable[[Emulator], AbstractAsyncContextManager[ClientConnection]]


@asynccontextmanager
async def http_client(emu: Emulator, **headers: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=emu.base_url, headers=headers or AUTH, trust_env=False, timeout=10
    ) as client:
        yield client


@asynccontextmanager
async def ws_connect(emu: Emulator, token: str = TOKEN) -> AsyncIterator[ClientConnection]:
    async with connect(
        emu.ws_url,
        additional_headers={"Authorization": f"Bearer {token}"},
        proxy=None,
        open_timeout=5,
        close_timeout=2,
    ) as ws:
        yield ws


async def recv_json(ws: ClientConnection) -> dict[str, Any]:
    async with asyncio.timeout(RECV_TIMEOUT):
        message = await ws.recv()
    data = json.loads(message)
    assert isinstance(data, dict)
    return data


async def subscribe(ws: ClientConnection, project_id: str) -> None:
    await ws.send(json.dumps({"type": "subscribe", "project_id": project_id}))
    assert await recv_json(ws) == {"type": "subscribed", "project_id": project_id}


async def drain_until_pong(ws: ClientConnection) -> list[dict[str, Any]]:
    """Everything the server queued for us before a ping we send now (messages are FIFO)."""
    await ws.send(json.dumps({"type": "ping"}))
    received = []
    while (message := await recv_json(ws))["type"] != "pong":
        received.append(message)
    return received


async def create_project(client: httpx.AsyncClient, **headers: str) -> str:
    response = await client.post("/api/projects", json=PROJECT_BODY, headers=headers)
    assert response.status_code == 201, response.text
    project_id = response.json()["id"]
    assert isinstance(project_id, str)
    return project_id


async def generate(
    client: httpx.AsyncClient, project_id: str | None = None, **fields: Any
) -> list[str]:
    body: dict[str, Any] = {
        "prompt": "a lighthouse at dusk",
        "seed": 7,
        "width": 128,
        "height": 96,
        "project_id": project_id,
    }
    body.update(fields)
    response = await client.post("/api/generation/image", json=body)
    assert response.status_code == 200, response.text
    return [f["id"] for f in response.json()["files"]]


wait_until = until  # the project-wide deadline-bounded poll


async def wait_for_status(client: httpx.AsyncClient, file_id: str, status: str) -> dict[str, Any]:
    """Poll ``GET /api/files/{id}`` until the file has ``status``."""
    deadline = time.monotonic() + DEADLINE
    while True:
        response = await client.get(f"/api/files/{file_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        if body["status"] == status:
            return body
        if time.monotonic() > deadline:
            raise AssertionError(f"file still {body['status']!r}, wanted {status!r}")
        await asyncio.sleep(0.02)
