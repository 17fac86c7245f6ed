"""Clips: a sampler batch going to ``CreateVideo`` moves coherently; SaveVideo's MP4."""

from __future__ import annotations

import itertools
from typing import Any

from bot.media.video import inspect_video
from emulator.render import ImageSpec, render_image
from tests.support.clips import change, frames_of, moved

from .probe import Probe
from .workflows import txt2img, txt2video

CKPT = "emulator-sd15.safetensors"


async def _clip(probe: Probe, prompt: dict[str, Any]) -> bytes:
    pid = probe.new_id("p")
    assert (await probe.post_prompt(prompt, prompt_id=pid)).status_code == 200
    entry = (await probe.until_history(pid))[pid]
    [output] = [o for o in entry["outputs"].values() if o.get("animated") == [True]]
    [item] = output["images"]
    view = await probe.http.get("/view", params=item)
    assert view.headers["content-type"] == "video/mp4"
    return view.content


async def test_a_sampler_batch_going_to_a_video_is_one_scene_in_motion(probe: Probe) -> None:
    prompt = txt2video(CKPT, "a fox running", seed=5, frames=12, width=128, height=96)
    clip = await _clip(probe, prompt)
    media = await inspect_video(clip, declared_type="video/mp4", max_pixels=10**6)
    frames = frames_of(clip, (128, 96))

    assert (media.width, media.height, media.duration) == (128, 96, 1.5)  # 12 frames at 8 fps
    assert len(frames) == 12
    scene = render_image(ImageSpec("a fox running", 5, 0, 128, 96))
    assert change(frames[0], scene) < 4  # the first frame is the scene (H.264 aside)
    boxes = [moved(frame, frames[0]) for frame in frames[1:-1]]
    assert all(box is not None for box in boxes)
    # One thing crosses the scene from left to right at one height; the rest stays put.
    assert len({(box[1], box[3]) for box in boxes if box}) <= 2
    rights = [box[2] for box in boxes if box]
    assert all(a < b for a, b in itertools.pairwise(rights))
    assert moved(frames[-1], frames[0]) is None  # gone again


async def test_clips_differ_by_prompt_and_seed_and_images_stay_separate(probe: Probe) -> None:
    fox = await _clip(probe, txt2video(CKPT, "a fox running", seed=5))
    other_seed = await _clip(probe, txt2video(CKPT, "a fox running", seed=6))
    other_prompt = await _clip(probe, txt2video(CKPT, "a heron flying", seed=5))
    assert len({fox, other_seed, other_prompt}) == 3
    assert fox == await _clip(probe, txt2video(CKPT, "a fox running", seed=5))

    # The same sampler saving images makes one picture per item, as before.
    pid = probe.new_id("images")
    await probe.post_prompt(txt2img(CKPT, "a fox running", seed=5, batch=2), prompt_id=pid)
    images = (await probe.until_history(pid))[pid]["outputs"]["9"]["images"]
    pictures = [(await probe.http.get("/view", params=i)).content for i in images]
    assert len(set(pictures)) == 2
