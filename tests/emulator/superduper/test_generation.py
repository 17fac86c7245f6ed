"""``POST /api/generation/image`` and each file's lifecycle as ``GET /api/files/{id}`` shows it."""

from __future__ import annotations

import time
import uuid
from typing import Any

import httpx
import pytest

from emulator.superduper import Emulator

from .helpers import (
    StartEmulator,
    create_project,
    generate,
    http_client,
    wait_for_status,
)


async def test_generation_without_project_runs_to_completed_with_a_url(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    before = time.monotonic()
    response = await http.post(
        "/api/generation/image", json={"prompt": "a cat", "seed": 1, "project_id": None}
    )

    assert response.status_code == 200
    [submitted] = response.json()["files"]
    assert submitted["status"] == "pending"
    assert submitted["project_id"] is None
    done = await wait_for_status(http, submitted["id"], "completed")
    assert done == {
        "id": submitted["id"],
        "project_id": None,
        "status": "completed",
        "progress": 100,
        "seed": 1,
        "duration": None,
        "url": f"{emu.base_url}/media/{submitted['id']}.png",
        "error": None,
        "content_type": "image/png",
        "width": 1024,
        "height": 1024,
    }
    assert emu.file_status(submitted["id"]) == "completed"
    # when it completed, on the monotonic clock: an ordering, not a duration
    assert before <= emu.completed_at[submitted["id"]] <= time.monotonic()


async def test_batch_with_project_gives_one_pending_file_per_image(
    emu: Emulator, http: httpx.AsyncClient
) -> None:
    project_id = await create_project(http)
    response = await http.post(
        "/api/generation/image",
        json={"prompt": "a dog", "seed": 3, "batch_size": 3, "project_id": project_id},
    )

    files = response.json()["files"]
    assert [(f["status"], f["project_id"]) for f in files] == [("pending", project_id)] * 3
    assert len({f["id"] for f in files}) == 3
    for f in files:
        assert (await wait_for_status(http, f["id"], "completed"))["project_id"] == project_id


async def test_manual_completion_holds_files_in_processing_until_finished(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    ok, bad = await generate(manual_http, batch_size=2)
    held = (await manual_http.get(f"/api/files/{ok}")).json()
    assert (held["status"], held["url"]) == ("processing", None)

    await manual_emu.report_progress(ok, 40)
    assert (await manual_http.get(f"/api/files/{ok}")).json()["progress"] == 40
    await manual_emu.finish(ok)
    await manual_emu.finish(bad, error="CUDA out of memory")

    completed = (await manual_http.get(f"/api/files/{ok}")).json()
    failed = (await manual_http.get(f"/api/files/{bad}")).json()
    assert (completed["status"], completed["url"]) == (
        "completed",
        f"{manual_emu.base_url}/media/{ok}.png",
    )
    assert (failed["status"], failed["error"], failed["url"]) == (
        "failed",
        "CUDA out of memory",
        None,
    )
    assert bad not in manual_emu.completed_at
    with pytest.raises(KeyError):
        await manual_emu.finish(str(uuid.uuid4()))


async def test_failure_rate_one_fails_every_file_with_a_reason(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(failure_rate=1.0)
    async with http_client(emu) as http:
        file_ids = await generate(http, batch_size=4)
        for file_id in file_ids:
            failed = await wait_for_status(http, file_id, "failed")
            assert failed["error"].startswith("Generation failed: ")
            assert (await http.get(f"/media/{file_id}.png")).status_code == 404


async def test_unknown_file_is_404(http: httpx.AsyncClient) -> None:
    response = await http.get(f"/api/files/{uuid.uuid4()}")
    assert response.status_code == 404
    assert response.json() == {"detail": "File not found"}


async def test_unknown_or_deleted_project_is_the_foreign_key_500(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    project_id = await create_project(manual_http)
    [running] = await generate(manual_http, project_id)
    manual_emu.delete_project(project_id)

    after_delete = await manual_http.post(
        "/api/generation/image", json={"prompt": "x", "project_id": project_id}
    )
    never_existed = await manual_http.post(
        "/api/generation/image", json={"prompt": "x", "project_id": str(uuid.uuid4())}
    )

    for response in (after_delete, never_existed):
        assert response.status_code == 500
        assert response.json()["detail"].startswith(
            'ForeignKeyViolationError: insert or update on table "files" violates foreign key '
            'constraint "files_project_id_fkey"'
        )
    assert project_id in after_delete.json()["detail"]
    assert (await manual_http.get(f"/api/projects/{project_id}")).status_code == 404
    await manual_emu.finish(running)
    assert (await manual_http.get(f"/api/files/{running}")).json()["status"] == "completed"


@pytest.mark.parametrize(
    ("fields", "loc", "error_type"),
    [
        ({"prompt": None}, ["body", "prompt"], "missing"),
        ({"prompt": ""}, ["body", "prompt"], "string_too_short"),
        ({"prompt": 5}, ["body", "prompt"], "string_type"),
        ({"width": 63}, ["body", "width"], "greater_than_equal"),
        ({"height": 4097}, ["body", "height"], "less_than_equal"),
        ({"width": "512"}, ["body", "width"], "int_type"),
        ({"steps": 0}, ["body", "steps"], "greater_than_equal"),
        ({"steps": 151}, ["body", "steps"], "less_than_equal"),
        ({"batch_size": 5}, ["body", "batch_size"], "less_than_equal"),
        ({"seed": 1.5}, ["body", "seed"], "int_type"),
        ({"seed": True}, ["body", "seed"], "int_type"),
        ({"references": "a.png"}, ["body", "references"], "list_type"),
        ({"entity_ids": [1]}, ["body", "entity_ids", 0], "string_type"),
        ({"project_id": "chat-123"}, ["body", "project_id"], "uuid_parsing"),
        ({"negative_prompt": None}, ["body", "negative_prompt"], "string_type"),
    ],
)
async def test_invalid_fields_are_422_in_fastapi_style(
    emu: Emulator,
    http: httpx.AsyncClient,
    fields: dict[str, Any],
    loc: list[Any],
    error_type: str,
) -> None:
    body: dict[str, Any] = {"prompt": "ok", "seed": 1}
    body.update(fields)
    if fields.get("prompt", "") is None:
        del body["prompt"]

    response = await http.post("/api/generation/image", json=body)

    assert response.status_code == 422
    [error] = response.json()["detail"]
    assert (error["loc"], error["type"]) == (loc, error_type)
    assert isinstance(error["msg"], str)
    assert error["msg"]
    assert emu.counters.requests["POST /api/generation/image"] == 1


async def test_a_body_that_is_not_an_object_is_422(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/generation/image", json=["prompt"])
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_many_errors_are_reported_together(http: httpx.AsyncClient) -> None:
    response = await http.post("/api/generation/image", json={"width": 1, "batch_size": 9})
    assert {tuple(e["loc"]) for e in response.json()["detail"]} == {
        ("body", "prompt"),
        ("body", "width"),
        ("body", "batch_size"),
    }


async def test_progress_moves_through_processing_before_completion(
    start_emulator: StartEmulator,
) -> None:
    """What ``GET`` shows at each step, the steps taken by the test through the code the
    stage timers call (that they fire at 25/50/75 %, in order: ``test_websocket.py``).
    Sampling a running timer instead would miss a stage whenever a request is late."""
    emu = await start_emulator(gen_time=(60.0, 60.0))  # no timer fires during the test
    async with http_client(emu) as http:

        async def shown() -> tuple[str, int]:
            body = (await http.get(f"/api/files/{file_id}")).json()
            return body["status"], body["progress"]

        [file_id] = await generate(http)
        seen = [await shown()]
        for percent in (25, 50, 75):
            await emu.report_progress(file_id, percent)
            seen.append(await shown())
        await emu.finish(file_id)
        seen.append(await shown())

    assert seen == [
        ("pending", 0),
        ("processing", 25),
        ("processing", 50),
        ("processing", 75),
        ("completed", 100),
    ]


async def test_submission_answers_pending_even_with_manual_completion(
    manual_http: httpx.AsyncClient,
) -> None:
    response = await manual_http.post("/api/generation/image", json={"prompt": "x"})
    [submitted] = response.json()["files"]
    assert submitted["status"] == "pending"
    status = (await manual_http.get(f"/api/files/{submitted['id']}")).json()
    assert (status["status"], status["progress"]) == ("processing", 0)
