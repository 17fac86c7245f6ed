"""``POST /api/projects`` (with Idempotency-Key) and ``GET /api/projects/{id}``."""

from __future__ import annotations

import uuid
from datetime import datetime

import httpx

from emulator.superduper import Emulator

from .helpers import PROJECT_BODY


async def test_create_returns_the_project_and_get_finds_it(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    created = await http.post("/api/projects", json=PROJECT_BODY)

    assert created.status_code == 201
    body = created.json()
    assert uuid.UUID(body["id"]).version == 4
    assert body["type"] == "image"
    assert body["template_name"] is None
    assert body["config"] == PROJECT_BODY["config"]
    assert datetime.fromisoformat(body["created_at"]).tzinfo is not None
    fetched = await http.get(f"/api/projects/{body['id']}")
    assert fetched.status_code == 200
    assert fetched.json() == body
    assert emu.projects == (body["id"],)


async def test_unknown_project_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get(f"/api/projects/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "Project not found"}


async def test_same_idempotency_key_gives_the_same_project_once(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    key = {"Idempotency-Key": "job-42"}
    first = await http.post("/api/projects", json=PROJECT_BODY, headers=key)
    second = await http.post("/api/projects", json=PROJECT_BODY, headers=key)
    other = await http.post("/api/projects", json=PROJECT_BODY, headers={"Idempotency-Key": "x"})
    plain = await http.post("/api/projects", json=PROJECT_BODY)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.json() == first.json()
    assert len({first.json()["id"], other.json()["id"], plain.json()["id"]}) == 3
    assert len(emu.projects) == 3


async def test_invalid_project_bodies_are_422(emu: Emulator, http: httpx.AsyncClient) -> None:
    missing = await http.post("/api/projects", json={"template_name": None})
    wrong_types = await http.post(
        "/api/projects", json={"type": "image", "config": {"width": "wide", "seed": 1.5}}
    )
    not_json = await http.post(
        "/api/projects", content=b"{oops", headers={"Content-Type": "application/json"}
    )

    assert missing.status_code == 422
    assert {tuple(e["loc"]) for e in missing.json()["detail"]} == {
        ("body", "type"),
        ("body", "config"),
    }
    assert wrong_types.status_code == 422
    assert {(tuple(e["loc"]), e["type"]) for e in wrong_types.json()["detail"]} == {
        (("body", "config", "width"), "int_type"),
        (("body", "config", "seed"), "int_type"),
    }
    assert not_json.status_code == 422
    assert not_json.json()["detail"][0]["type"] == "json_invalid"
    assert emu.projects == ()
