"""What each supported node does when it runs, on ``values`` (pictures, fake models)."""

from __future__ import annotations

import asyncio
import io
import json
import posixpath
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from PIL import Image, ImageOps, UnidentifiedImageError

from emulator.comfyui.files import FileStore, UnsafePath, clean_subfolder
from emulator.comfyui.values import Checkpoint, Conditioning, Images, Latent, Video, sample
from emulator.render import encode_mp4

Outputs = tuple[Any, ...]
UiOutput = dict[str, list[Any]]
"""A node's ``executed.output``: kinds → entries. ``images`` lists files
``{filename, subfolder, type}``; SaveVideo adds ``"animated": [true]`` (its one file is a
clip), as ComfyUI's ``ui.PreviewVideo`` does."""

SAMPLERS: Final = frozenset({"KSampler"})
FRAME_CONSUMERS: Final = frozenset({"CreateVideo"})
"""Nodes whose IMAGE input becomes a video's frames (the samplers before them know it)."""
VIDEO_CONTAINERS: Final = ("auto", "mp4")
VIDEO_CODECS: Final = ("auto", "h264")


class NodeFailure(Exception):
    """A node raising while it runs (→ ``execution_error``)."""

    def __init__(self, message: str, exception_type: str = "Exception") -> None:
        super().__init__(message)
        self.exception_type = exception_type


@dataclass(frozen=True, slots=True)
class NodeResult:
    outputs: Outputs
    ui: UiOutput | None = None


@dataclass(slots=True)
class RunContext:
    """What a running node may use: the files, a sampler-step hook, a name source."""

    files: FileStore
    step: Callable[[int, int, Latent], Awaitable[None]]
    """Called after each sampler step (value, max, current latent): progress, previews,
    pacing, interrupts and holds happen there."""
    temp_suffix: Callable[[], str]
    saved: list[tuple[str, str, str]] = field(default_factory=list)
    prompt: Mapping[str, Any] = field(default_factory=dict)
    """The whole prompt (the hidden ``PROMPT`` input of the save nodes)."""
    moving: bool = False
    """This node's output becomes a video's frames (see ``executor.py``)."""


NodeFunction = Callable[[dict[str, Any], RunContext], Awaitable[NodeResult]]


async def checkpoint_loader(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    name = inputs["ckpt_name"]
    return NodeResult(tuple(Checkpoint(name, part) for part in ("MODEL", "CLIP", "VAE")))


async def clip_text_encode(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    return NodeResult((Conditioning(inputs["text"]),))


async def empty_latent(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    width, height = inputs["width"] // 8 * 8, inputs["height"] // 8 * 8
    return NodeResult((Latent(width, height, (None,) * inputs["batch_size"]),))


async def ksampler(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    latent: Latent = inputs["latent_image"]
    positive: Conditioning = inputs["positive"]
    steps: int = inputs["steps"]
    result = sample(latent, positive.text, inputs["seed"], inputs["denoise"], moving=ctx.moving)
    for step in range(1, steps + 1):
        await ctx.step(step, steps, result)
    return NodeResult((result,))


async def vae_decode(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    latent: Latent = inputs["samples"]
    return NodeResult((latent.decoded(),))


async def vae_encode(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    images: Images = inputs["pixels"]
    width, height = images.frames[0].size
    width, height = width // 8 * 8, height // 8 * 8
    pictures = tuple(f.crop((0, 0, width, height)) for f in images.frames)
    return NodeResult((Latent(width, height, pictures),))


def _input_path(name: str) -> tuple[str, str, str]:
    folder = "input"
    for kind in ("output", "input", "temp"):
        if name.endswith(f"[{kind}]"):
            folder, name = kind, name[: -len(kind) - 3]
            break
    subfolder, _, base = name.replace("\\", "/").rpartition("/")
    return folder, subfolder, base


def input_file_exists(files: FileStore, name: str) -> bool:
    """``LoadImage``'s own validation (a name relative to the input folder)."""
    return files.exists(*_input_path(name))


async def load_image(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    data = ctx.files.get(*_input_path(inputs["image"]))
    if data is None:
        raise NodeFailure(f"No such file: {inputs['image']}", "FileNotFoundError")
    try:
        with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP", "GIF", "BMP")) as img:
            picture = ImageOps.exif_transpose(img).convert("RGB")
    except (UnidentifiedImageError, OSError) as exc:
        raise NodeFailure(str(exc), "PIL.UnidentifiedImageError") from None
    return NodeResult((Images((picture,)), "MASK"))


async def image_scale_by(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    images: Images = inputs["image"]
    width, height = images.frames[0].size
    scale = inputs["scale_by"]
    return NodeResult(
        (images.resized(round(width * scale), round(height * scale), inputs["upscale_method"]),)
    )


async def image_scale(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    images: Images = inputs["image"]
    width, height = inputs["width"], inputs["height"]
    if width == 0 and height == 0:
        return NodeResult((images,))
    src_w, src_h = images.frames[0].size
    if width == 0:
        width = max(1, round(src_w * height / src_h))
    elif height == 0:
        height = max(1, round(src_h * width / src_w))
    if inputs["crop"] == "center":
        images = _center_crop(images, width / height)
    return NodeResult((images.resized(width, height, inputs["upscale_method"]),))


def _center_crop(images: Images, aspect: float) -> Images:
    width, height = images.frames[0].size
    if width / height > aspect:
        new_w = round(height * aspect)
        box = ((width - new_w) // 2, 0, (width - new_w) // 2 + new_w, height)
    else:
        new_h = round(width / aspect)
        box = (0, (height - new_h) // 2, width, (height - new_h) // 2 + new_h)
    return Images(tuple(f.crop(box) for f in images.frames))


async def empty_image(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    color = inputs["color"]
    rgb = ((color >> 16) & 0xFF, (color >> 8) & 0xFF, color & 0xFF)
    size = (inputs["width"], inputs["height"])
    return NodeResult(
        (Images(tuple(Image.new("RGB", size, rgb) for _ in range(inputs["batch_size"]))),)
    )


async def latent_upscale_by(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    latent: Latent = inputs["samples"]
    scale = inputs["scale_by"]
    width = round(latent.width // 8 * scale) * 8
    height = round(latent.height // 8 * scale) * 8
    return NodeResult((latent.resized(width, height, inputs["upscale_method"]),))


async def repeat_latent_batch(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    latent: Latent = inputs["samples"]
    pictures = latent.pictures * inputs["amount"]
    return NodeResult((Latent(latent.width, latent.height, pictures),))


def _save_path(
    ctx: RunContext, prefix: str, folder: str, size: tuple[int, int]
) -> tuple[str, str, int]:
    """``folder_paths.get_save_image_path``: the subfolder, file stem and first counter."""
    width, height = size
    prefix = prefix.replace("%width%", str(width)).replace("%height%", str(height))
    normalised = posixpath.normpath(prefix.replace("\\", "/"))
    subfolder, _, base = normalised.rpartition("/")
    try:
        subfolder = clean_subfolder(subfolder)
    except UnsafePath:
        raise NodeFailure(
            "**** ERROR: Saving image outside the output folder is not allowed."
            f"\n full_output_folder: {subfolder}"
        ) from None
    return subfolder, base, ctx.files.next_counter(folder, subfolder, base)


def _save(ctx: RunContext, images: Images, prefix: str, folder: str, level: int) -> NodeResult:
    subfolder, base, counter = _save_path(ctx, prefix, folder, images.frames[0].size)
    results = []
    for batch_number, frame in enumerate(images.frames):
        name = f"{base.replace('%batch_num%', str(batch_number))}_{counter:05}_.png"
        out = io.BytesIO()
        frame.save(out, "PNG", compress_level=level)
        ctx.files.put(folder, subfolder, name, out.getvalue())
        ctx.saved.append((folder, subfolder, name))
        results.append({"filename": name, "subfolder": subfolder, "type": folder})
        counter += 1
    return NodeResult((), {"images": results})


async def save_image(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    return _save(ctx, inputs["images"], inputs["filename_prefix"], "output", 4)


async def preview_image(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    return _save(ctx, inputs["images"], "ComfyUI_temp_" + ctx.temp_suffix(), "temp", 1)


async def image_batch(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    """``image2`` after ``image1``; resized (bilinear, centre crop) to ``image1``'s size."""
    first: Images = inputs["image1"]
    second: Images = inputs["image2"]
    width, height = first.frames[0].size
    if second.frames[0].size != (width, height):
        second = _center_crop(second, width / height).resized(width, height, "bilinear")
    return NodeResult((Images(first.frames + second.frames),))


async def create_video(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    images: Images = inputs["images"]
    return NodeResult((Video(images.frames, float(inputs["fps"])),))


async def save_video(inputs: dict[str, Any], ctx: RunContext) -> NodeResult:
    """SaveVideo: an H.264 MP4 (the prompt in its metadata, as ComfyUI writes it), with
    ComfyUI's errors for what it cannot do."""
    video: Video = inputs["video"]
    container, codec = inputs["format"], inputs["codec"]
    subfolder, base, counter = _save_path(
        ctx, inputs["filename_prefix"], "output", video.frames[0].size
    )
    if container not in VIDEO_CONTAINERS:
        raise NodeFailure(f"{container!r} is not a valid VideoContainer", "ValueError")
    if codec not in VIDEO_CODECS:
        raise NodeFailure("Only H264 codec is supported for now", "ValueError")
    width, height = video.frames[0].size
    if width % 2 or height % 2:  # libx264 with yuv420p needs even sides
        raise NodeFailure(
            "[Errno 542398533] Generic error in an external library: "
            "'avcodec_open2(\"libx264\", {})'",
            "av.error.ExternalError",
        )
    name = f"{base}_{counter:05}_.mp4"
    metadata = {"prompt": json.dumps(ctx.prompt)}
    data = await asyncio.to_thread(encode_mp4, video.frames, video.fps, metadata=metadata)
    ctx.files.put("output", subfolder, name, data)
    ctx.saved.append(("output", subfolder, name))
    files = [{"filename": name, "subfolder": subfolder, "type": "output"}]
    return NodeResult((), {"images": files, "animated": [True]})


def node_functions() -> dict[str, NodeFunction]:
    """Class type → implementation, for every node in the catalogue."""
    return {
        "CheckpointLoaderSimple": checkpoint_loader,
        "CLIPTextEncode": clip_text_encode,
        "EmptyLatentImage": empty_latent,
        "KSampler": ksampler,
        "VAEDecode": vae_decode,
        "VAEEncode": vae_encode,
        "LoadImage": load_image,
        "ImageScaleBy": image_scale_by,
        "ImageScale": image_scale,
        "EmptyImage": empty_image,
        "LatentUpscaleBy": latent_upscale_by,
        "RepeatLatentBatch": repeat_latent_batch,
        "SaveImage": save_image,
        "PreviewImage": preview_image,
        "ImageBatch": image_batch,
        "CreateVideo": create_video,
        "SaveVideo": save_video,
    }
