"""Videos: the built-in video workflows, their clips read from the history, downloads
checked as videos."""

from __future__ import annotations

import json

import pytest

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.comfyui.backend import CAPABILITIES, VIDEO_FPS
from bot.backend.comfyui.handles import Submission
from bot.backend.comfyui.outputs import outcome_of
from bot.backend.errors import DownloadRefused
from bot.backend.types import Capability, OutcomeStatus, Task
from emulator.comfyui import ComfyEmulator
from tests.support.clips import change, frames_of, moved
from tests.support.comfyui import prompt_id_of

from .conftest import MakeBackend
from .helpers import reference, request, submitted


async def test_a_video_is_seconds_times_fps_frames_saved_as_an_mp4(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    handle = await submitted(backend, "clip", request(task=Task.VIDEO, seconds=2, count=1))
    outcome = await backend.wait(handle, timeout=10)

    assert Capability.VIDEO in CAPABILITIES
    assert outcome.status is OutcomeStatus.COMPLETED
    [clip] = outcome.results
    assert (clip.content_type, clip.seed) == ("video/mp4", 42)
    media = await backend.download(clip)
    assert (media.format, media.width, media.height, media.duration) == ("MP4", 64, 64, 2.0)
    sent = comfy.prompt_of(prompt_id_of(handle))
    assert sent is not None
    assert sent["5"]["inputs"]["batch_size"] == 2 * VIDEO_FPS
    assert sent["20"]["inputs"]["fps"] == VIDEO_FPS
    assert sent["21"]["class_type"] == "SaveVideo"
    assert Submission.from_json(handle).video


async def test_an_image_reference_is_the_first_frame_and_the_rest_follow_it(
    comfy: ComfyEmulator, backend: ComfyUIBackend
) -> None:
    still = reference(64, 48, weight=1.0)
    generation = request(task=Task.VIDEO, seconds=2, reference=still, width=64, height=48)
    outcome = await backend.wait(await submitted(backend, "from-still", generation), timeout=10)
    [clip] = outcome.results
    media = await backend.download(clip)

    frames = frames_of(media.data, (64, 48))
    assert len(frames) == 2 * VIDEO_FPS
    uploaded = [v for (kind, _, _), v in comfy.files.files.items() if kind == "input"]
    assert uploaded == [still.data]
    first = frames[0].getpixel((2, 2))
    assert isinstance(first, tuple) and first[1] > 150 > first[0]  # the reference's green
    assert change(frames[0], frames[-1]) < 10  # weight 1: every frame is that picture…
    assert moved(frames[VIDEO_FPS], frames[0]) is not None  # …with something moving across


def _entry(outputs: dict[str, object]) -> dict[str, object]:
    return {"outputs": outputs, "status": {"status_str": "success", "messages": []}}


def _view(file: object) -> str:
    return f"http://gpu1/view?{json.dumps(file, sort_keys=True)}"


def test_clips_are_read_from_animated_images_and_custom_gifs_entries() -> None:
    frames = [{"filename": "f_00001_.png", "subfolder": "", "type": "output"}]
    stock = {"filename": "imagine-bot_00001_.mp4", "subfolder": "video", "type": "output"}
    vhs = {
        "filename": "AnimateDiff_00001.webm", "subfolder": "", "type": "output",
        "format": "video/webm", "frame_rate": 8.0,
    }  # fmt: skip
    entry = _entry(
        {
            "9": {"images": frames},
            "21": {"images": [stock], "animated": [True]},
            "30": {"gifs": [vhs]},
        }
    )

    clips = outcome_of(entry, view_url=_view, seed=7, expected=1, video=True)
    images = outcome_of(entry, view_url=_view, seed=7, expected=1)

    assert [(r.content_type, r.seed) for r in clips.results] == [
        ("video/mp4", 7),
        ("video/webm", 8),
    ]
    assert clips.results[0].url == _view({**stock})
    assert [r.content_type for r in images.results] == ["image/png"]


def test_a_clip_saved_in_a_format_the_bot_cannot_post_is_a_clear_failure() -> None:
    webp = {"filename": "ComfyUI_00001_.webp", "subfolder": "", "type": "output"}
    entry = _entry({"5": {"images": [webp], "animated": [True]}})
    outcome = outcome_of(entry, view_url=_view, seed=1, expected=1, video=True)
    assert outcome.status is OutcomeStatus.FAILED
    assert outcome.reason == (
        "the workflow saved the clip as ComfyUI_00001_.webp; the bot posts .gif, .mp4, .webm"
    )
    nothing = outcome_of(_entry({}), view_url=_view, seed=1, expected=1, video=True)
    assert nothing.reason == "the workflow finished without saving a clip"


async def test_a_clip_over_the_video_cap_is_refused(make_backend: MakeBackend) -> None:
    backend = await make_backend(max_video_bytes=1_000)
    handle = await submitted(backend, "big-clip", request(task=Task.VIDEO, seconds=2))
    [clip] = (await backend.wait(handle, timeout=10)).results
    with pytest.raises(DownloadRefused, match="over the 1000-byte limit"):
        await backend.download(clip)
