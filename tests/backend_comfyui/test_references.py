"""Image references: img2img and upscale upload the image under a name derived from the
ticket, so a resumed submission overwrites the same file."""

from __future__ import annotations

import io

import httpx
import pytest
from PIL import Image, ImageChops, ImageStat

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.errors import BackendUnavailable
from bot.backend.types import OutcomeStatus, Task
from emulator.comfyui import ComfyEmulator
from tests.support.comfyui import MemoryValues, prompt_id_of

from .conftest import MakeBackend
from .helpers import POST_PROMPT, UPLOAD, ScriptedPosts, png, reference, request, submitted


def _difference(data: bytes, other: bytes) -> float:
    with Image.open(io.BytesIO(data)) as a, Image.open(io.BytesIO(other)) as b:
        diff = ImageChops.difference(a.convert("RGB"), b.convert("RGB").resize(a.size))
        return sum(ImageStat.Stat(diff).mean) / 3


async def _sent_prompt(emu: ComfyEmulator, prompt_id: str) -> dict[str, dict[str, object]]:
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        entry = (await http.get(f"/history/{prompt_id}")).json()[prompt_id]
    prompt: dict[str, dict[str, object]] = entry["prompt"][2]
    return prompt


async def test_img2img_uploads_the_reference_and_follows_it_by_its_weight(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    close = reference(weight=0.9)
    handle = await submitted(backend, "vary", request(reference=close, count=2))
    outcome = await backend.wait(handle, timeout=5)

    assert outcome.status is OutcomeStatus.COMPLETED
    assert [r.seed for r in outcome.results] == [42, 43]
    pictures = [await backend.download(r) for r in outcome.results]
    assert all(_difference(p.data, close.data) < 30 for p in pictures)
    assert pictures[0].data != pictures[1].data
    pid = prompt_id_of(handle)
    assert comfy.counters.requests[UPLOAD] == 1
    assert comfy.files.get("input", "", f"imagine-bot-{pid}.png") == close.data
    sent = await _sent_prompt(comfy, pid)
    assert sent["10"]["inputs"] == {"image": f"imagine-bot-{pid}.png"}
    assert sent["3"]["inputs"]["denoise"] == pytest.approx(0.1)  # type: ignore[index]
    assert sent["12"]["inputs"]["amount"] == 2  # type: ignore[index]


async def test_upscale_doubles_the_image_without_a_model(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    image = reference(32, 24)
    handle = await submitted(backend, "upscale", request(task=Task.UPSCALE, reference=image))
    outcome = await backend.wait(handle, timeout=5)

    assert outcome.status is OutcomeStatus.COMPLETED
    [result] = outcome.results
    media = await backend.download(result)
    assert (media.width, media.height) == (64, 48)
    assert _difference(media.data, png(64, 48)) < 2
    sent = await _sent_prompt(comfy, prompt_id_of(handle))
    assert {n["class_type"] for n in sent.values()} == {"LoadImage", "ImageScaleBy", "SaveImage"}


async def test_a_resumed_submission_overwrites_the_same_upload(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    values = MemoryValues()
    image = reference()
    async with httpx.AsyncClient(transport=ScriptedPosts(*["refused"] * 20)) as http:
        failing = await make_backend(values=values, http=http)
        ticket = await failing.plan(scope=None, client_key="resumed-upload")
        with pytest.raises(BackendUnavailable):
            await failing.submit(request(reference=image), ticket=ticket)
        await failing.aclose()

    resumed = await make_backend(values=values)
    handle = await resumed.submit(request(reference=image), ticket=ticket)

    assert (await resumed.wait(handle, timeout=5)).status is OutcomeStatus.COMPLETED
    pid = prompt_id_of(ticket)
    assert comfy.counters.requests[UPLOAD] == 2
    assert [n for n in comfy.files.names("input") if pid in n] == [f"imagine-bot-{pid}.png"]
    assert comfy.counters.requests[POST_PROMPT] == 1
