"""Opt-in: the built-in video workflows on a real ComfyUI (set ``COMFYUI_REAL_URL``; any
checkpoint works, a random-weight one too — see docs/comfyui-emulator.md). Small frames and
one step, so a CPU server takes a minute or two."""

from __future__ import annotations

import os
import random

import httpx
import pytest

from bot.backend.comfyui import ComfyUIBackend, ComfyUISettings
from bot.backend.types import GenerationRequest, OutcomeStatus, Task
from tests.support.clips import frames_of
from tests.support.comfyui import MemoryValues

from .helpers import reference

REAL_URL = os.environ.get("COMFYUI_REAL_URL", "")
pytestmark = pytest.mark.skipif(not REAL_URL, reason="COMFYUI_REAL_URL is not set")


@pytest.mark.timeout(900)
async def test_the_built_in_video_workflows_run_on_a_real_comfyui() -> None:
    async with httpx.AsyncClient(trust_env=False, timeout=60) as http:
        info = (await http.get(f"{REAL_URL}/object_info/CheckpointLoaderSimple")).json()
        [checkpoint, *_] = info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0]
        settings = ComfyUISettings(
            urls=(REAL_URL,), checkpoint=checkpoint, expected_generation_time=2.0
        )
        backend = ComfyUIBackend(settings, http, values=MemoryValues(), rng=random.Random())
        await backend.start()
        try:
            still = reference(64, 48, weight=1.0)
            for key, ref in (("txt2video", None), ("img2video", still)):
                request = GenerationRequest(
                    "a fox running", 7, width=64, height=48, steps=1, task=Task.VIDEO,
                    seconds=2, reference=ref,
                )  # fmt: skip
                ticket = await backend.plan(scope=None, client_key=f"live-{key}-{random.random()}")
                handle = await backend.submit(request, ticket=ticket)
                outcome = await backend.wait(handle, timeout=600)
                assert outcome.status is OutcomeStatus.COMPLETED, outcome.reason
                [clip] = outcome.results
                assert clip.content_type == "video/mp4"
                media = await backend.download(clip)
                assert (media.format, media.width, media.height, media.duration) == (
                    "MP4", 64, 48, 2.0
                )  # fmt: skip
                frames = frames_of(media.data, (64, 48))
                assert len(frames) == 16
                if ref is not None:  # the reference is the first frame (its green)
                    first = frames[0].getpixel((5, 5))
                    assert isinstance(first, tuple) and first[1] > 150 > first[0]
        finally:
            await backend.aclose()
