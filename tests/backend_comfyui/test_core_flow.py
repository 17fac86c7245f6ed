"""The real core on the ComfyUI backend: a grid of four, then U1 and V2 on it."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from PIL import Image

from bot.backend.protocol import ImageBackend
from bot.chat import ActionInvocation, ActionKind, Requester
from bot.jobs import Job, JobState
from bot.service import ImagineBot
from emulator.comfyui import ComfyEmulator
from storage import SqliteJobStore
from tests.support.comfyui import open_comfy_backend
from tests.support.harness import fast_bot_config, invocation
from tests.support.recording_chat import PostedImage, RecordingChat

from .helpers import UPLOAD


@dataclass
class Bot:
    bot: ImagineBot
    store: SqliteJobStore
    chat: RecordingChat


@pytest.fixture
async def bot(comfy: ComfyEmulator, tmp_path: Path) -> AsyncIterator[Bot]:
    store = await SqliteJobStore.open(tmp_path / "bot.db")
    chat = RecordingChat()
    try:
        async with open_comfy_backend([comfy], store) as backend:
            neutral: ImageBackend = backend
            core = ImagineBot(
                store=store, backends={neutral.name: neutral}, config=fast_bot_config()
            )
            core.add_chat(chat)
            await core.start()
            try:
                yield Bot(core, store, chat)
            finally:
                await core.aclose()
    finally:
        await store.aclose()


def _size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as picture:
        return picture.size


def _press(image: PostedImage, kind: ActionKind, index: int) -> ActionInvocation:
    [action] = [a for a in image.actions if a.kind is kind and a.index == index]
    who = Requester("U2", "user U2")
    return ActionInvocation(image.where, who, kind, action.job_id, image.message_id, action.index)


async def _child(b: Bot, parent: Job, count: int) -> Job:
    await b.chat.wait_until(lambda: len(b.chat.images) >= count)
    await b.bot.drain()
    child = await b.store.get_job(b.chat.images[count - 1].dedupe_key.split(":")[0])
    assert child is not None and child.parent_job_id == parent.id
    return child


async def test_a_grid_then_an_upscale_and_a_variation(comfy: ComfyEmulator, bot: Bot) -> None:
    job_id = await bot.bot.imagine(invocation("four foxes --n 4 --seed 10 --size 256x256"))
    parent = await bot.bot.wait_for(job_id or "")
    assert parent is not None and parent.state is JobState.POSTED
    [grid] = bot.chat.images
    assert "1: seed 10, 2: seed 11, 3: seed 12, 4: seed 13" in grid.caption

    await bot.bot.act(_press(grid, ActionKind.UPSCALE, 0))
    upscale = await _child(bot, parent, 2)
    await bot.bot.act(_press(grid, ActionKind.VARY_STRONG, 1))
    variation = await _child(bot, parent, 3)

    assert upscale.state is variation.state is JobState.POSTED
    assert _size(bot.chat.images[1].data) == (512, 512)
    assert _size(bot.chat.images[2].data) == (256, 256)
    assert comfy.counters.requests[UPLOAD] == 2  # image 1 for U1, image 2 for V2
    assert comfy.counters.prompts_executed == 3
