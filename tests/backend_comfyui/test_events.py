"""WebSocket events: only for our own client id, previews as progress, a restart's resume."""

from __future__ import annotations

import io
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from PIL import Image

from bot.backend.types import OutcomeStatus, Progress
from bot.store import ValueStore
from emulator.comfyui import ComfyEmulator
from storage import SqliteJobStore
from tests.support.comfyui import MemoryValues

from .conftest import MakeBackend, StartComfy
from .helpers import HISTORY, SLOW_POLLS, connected, request, running, submitted


async def test_a_jobs_events_reach_only_the_socket_of_its_client_id(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    ours = await make_backend(**SLOW_POLLS)
    theirs = await make_backend(**SLOW_POLLS)
    assert ours.client_id != theirs.client_id
    await connected(ours)
    await connected(theirs)

    mine = await submitted(ours, "mine")
    outcome = await ours.wait(mine, timeout=5)

    # Polls come 30 s apart: the end came over our socket, and none of it over theirs.
    assert outcome.status is OutcomeStatus.COMPLETED
    assert ours.watcher.events_received > 0
    assert theirs.watcher.events_received == 0

    seen_by_ours = ours.watcher.events_received
    other = await submitted(theirs, "theirs")
    assert (await theirs.wait(other, timeout=5)).status is OutcomeStatus.COMPLETED
    assert theirs.watcher.events_received > 0
    assert ours.watcher.events_received == seen_by_ours
    assert comfy.counters.ws_connections == 2


async def test_a_job_of_another_client_id_is_not_covered_and_is_polled_to_its_end(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    planner = await make_backend()
    handle = await submitted(planner, "planned-elsewhere")
    waiter = await make_backend(safety_net_poll=30.0)  # other client id: events never come
    await connected(waiter)

    outcome = await waiter.wait(handle, timeout=5)

    assert outcome.status is OutcomeStatus.COMPLETED
    assert waiter.watcher.events_received == 0


async def test_previews_and_progress_arrive_while_the_job_runs(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    emu = await start_comfy(preview_method="latent2rgb", preview_size=32)
    backend = await make_backend([emu], **SLOW_POLLS)
    await connected(backend)
    seen: list[Progress] = []

    async def on_progress(progress: Progress) -> None:
        seen.append(progress)

    handle = await submitted(backend, "previewed", request(steps=4))
    outcome = await backend.wait(handle, timeout=5, on_progress=on_progress)

    assert outcome.status is OutcomeStatus.COMPLETED
    percents = [p.percent for p in seen]
    assert percents == sorted(percents) and percents[-1] == 100
    previews = [p.preview for p in seen if p.preview is not None]
    assert previews
    with Image.open(io.BytesIO(previews[-1])) as picture:
        assert picture.format == "JPEG" and max(picture.size) <= 32


@pytest.mark.parametrize("kept_in", ["memory", "sqlite"])
async def test_after_a_restart_the_same_client_id_gets_the_events_of_earlier_jobs(
    start_comfy: StartComfy, make_backend: MakeBackend, tmp_path: Path, kept_in: str
) -> None:
    emu = await start_comfy(manual_completion=True)
    async with AsyncExitStack() as stack:
        values: ValueStore = MemoryValues()
        if kept_in == "sqlite":
            store = await SqliteJobStore.open(tmp_path / "bot.db")
            stack.push_async_callback(store.aclose)
            values = store
        await _restart_and_resume(emu, make_backend, values)


async def _restart_and_resume(
    emu: ComfyEmulator, make_backend: MakeBackend, values: ValueStore
) -> None:
    before = await make_backend([emu], values)
    await connected(before)
    handle = await submitted(before, "spans-a-restart")
    await running(emu, handle)
    await before.aclose()  # the bot stops; the job goes on

    after = await make_backend([emu], values, **SLOW_POLLS)
    assert after.client_id == before.client_id
    await connected(after)
    polls = emu.counters.requests[HISTORY]
    waiting = after.wait(handle, timeout=5)
    emu.config.manual_completion = False
    emu.release()
    outcome = await waiting

    assert outcome.status is OutcomeStatus.COMPLETED
    assert after.watcher.events_received > 0
    # the resumed wait looked once at once, then the end event called for its confirmation
    assert emu.counters.requests[HISTORY] - polls <= 4
