"""What the workflows produce, as pictures a person would see."""

from __future__ import annotations

import io
from typing import Any

from PIL import Image, ImageChops, ImageStat

from emulator.comfyui import ComfyEmulator
from emulator.render import FONT_CHAIN, ImageSpec, caption_runs, render_image, render_png

from .probe import Probe
from .workflows import img2img, solid, txt2img

CKPT = "emulator-sd15.safetensors"


async def _run(probe: Probe, prompt: dict[str, Any]) -> list[Image.Image]:
    pid = probe.new_id("p")
    response = await probe.post_prompt(prompt, prompt_id=pid)
    assert response.status_code == 200, response.text
    entry = (await probe.until_history(pid))[pid]
    assert entry["status"]["status_str"] == "success", entry["status"]
    pictures = []
    for output in entry["outputs"].values():
        for image in output["images"]:
            body = (await probe.http.get("/view", params=image)).content
            pictures.append(Image.open(io.BytesIO(body)).convert("RGB"))
    return pictures


def _difference(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b.resize(a.size))).mean) / 3


async def test_txt2img_is_deterministic_per_prompt_seed_and_batch_index(probe: Probe) -> None:
    first = await _run(probe, txt2img(CKPT, "a lighthouse", seed=3, batch=2, width=96))
    again = await _run(probe, txt2img(CKPT, "a lighthouse", seed=3, batch=2, width=96, prefix="b"))
    other = await _run(probe, txt2img(CKPT, "a lighthouse", seed=4, width=96))
    assert [p.size for p in first] == [(96, 64), (96, 64)]
    assert [p.tobytes() for p in first] == [p.tobytes() for p in again]
    assert first[0].tobytes() != first[1].tobytes() != other[0].tobytes()
    assert first[0].tobytes() == render_image(ImageSpec("a lighthouse", 3, 0, 96, 64)).tobytes()


async def test_img2img_at_low_denoise_stays_close_to_the_reference(
    comfy: ComfyEmulator, probe: Probe
) -> None:
    reference = Image.new("RGB", (64, 64), (20, 200, 40))
    data = io.BytesIO()
    reference.save(data, "PNG")
    upload = await probe.http.post(
        "/upload/image", files={"image": ("ref.png", data.getvalue(), "image/png")}
    )
    name = upload.json()["name"]
    [light] = await _run(probe, img2img(CKPT, name, "a red barn", denoise=0.3))
    [heavy] = await _run(probe, img2img(CKPT, name, "a red barn", denoise=0.9))
    fresh = render_image(ImageSpec("a red barn", 1, 0, 64, 64))
    assert _difference(light, reference) < _difference(light, fresh)
    assert _difference(heavy, fresh) < _difference(heavy, reference)


async def test_image_scale_by_two_is_the_same_picture_twice_as_large(probe: Probe) -> None:
    [small] = await _run(probe, solid(color=0x3366CC, scale_by=1.0, batch=1))
    [large] = await _run(probe, solid(color=0x3366CC, scale_by=2.0, batch=1))
    assert large.size == (small.size[0] * 2, small.size[1] * 2)
    assert _difference(large.resize(small.size), small) < 1


def test_captions_in_any_script_draw_no_boxes() -> None:
    text = "Привет 你好 مرحبا 🎨 ok"
    runs = caption_runs(text, FONT_CHAIN, 20)
    assert "".join(t for t, _ in runs if t).replace(" ", "")  # something drawn, no crash
    drawn = "".join(t for t, font in runs if font is not None)
    assert "o" in drawn and "k" in drawn
    # Nothing drawn where no font of the chain has the glyph: only the Latin is left.
    latin_only = caption_runs(text, (), 20)
    assert [font for _, font in latin_only if font is not None] == ["<pillow>"]
    assert next(t for t, font in latin_only if font is None).startswith("Привет")
    assert caption_runs("\U0010fffd\U0010fffe", FONT_CHAIN, 20) == [("\U0010fffd\U0010fffe", None)]


def test_superduper_renderer_takes_emoji_and_non_latin_text() -> None:
    for prompt in ("🚀🚀 launch", "東京タワー", "Кремль", "القاهرة", "\u200d\ufe0f"):
        png = render_png(ImageSpec(prompt, 1, 0, 160, 120))
        assert Image.open(io.BytesIO(png)).size == (160, 120)
