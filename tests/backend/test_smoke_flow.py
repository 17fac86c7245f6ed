"""The happy paths end to end: project, submit, wait (WebSocket or polling), download."""

from __future__ import annotations

import asyncio

from bot.backend.superduper.files import FileStatus, WaitOutcome
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import FILE_ROUTE, WS_ROUTE, eventually, request


async def test_a_project_generation_completes_and_downloads(
    emu: Emulator, backend: FileApi
) -> None:
    project_id = await backend.create_project(title="#general", idempotency_key="chan-1")
    [file] = await backend.submit(request(), project_id=project_id)
    assert file.project_id == project_id
    assert file.status in (FileStatus.PENDING, FileStatus.PROCESSING)

    result = await backend.wait(file.id, project_id, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    image = await backend.download(result.file.url)
    assert image.format == "PNG"
    assert (image.width, image.height) == (256, 256)
    assert emu.counters.ws_connections == 1


async def test_completion_arrives_by_websocket_with_one_confirming_poll(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    # No poll is due for 30 s: only the WebSocket event can end this wait in time.
    backend = await make_backend(expected_generation_time=30.0, safety_net_poll=30.0)
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    progress: list[int] = []

    async def on_progress(percent: int) -> None:
        progress.append(percent)

    waiting = asyncio.create_task(
        backend.wait(file.id, project_id, timeout=5, on_progress=on_progress)
    )
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    await emu.report_progress(file.id, 40)
    await eventually(lambda: progress == [40])
    await emu.finish(file.id)
    result = await waiting

    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    assert emu.counters.requests[FILE_ROUTE] == 1  # the confirmation only
    assert progress == [40, 100]
    assert emu.counters.ws_connections == 1
    assert emu.counters.requests[WS_ROUTE] == 1
