"""What flows along the links of an emulated workflow: real pictures, fake models.

Pictures are PIL images, so what a workflow produces is visible and deterministic;
models, CLIP and VAE are tokens naming their checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from emulator.render import ImageSpec, moving_frame, render_image

RESAMPLING = {
    "nearest-exact": Image.Resampling.NEAREST,
    "bilinear": Image.Resampling.BILINEAR,
    "area": Image.Resampling.BOX,
    "bicubic": Image.Resampling.BICUBIC,
    "lanczos": Image.Resampling.LANCZOS,
    "bislerp": Image.Resampling.BILINEAR,
}
_EMPTY_DECODE = (128, 118, 106)
"""What decoding a latent that was never sampled gives (real VAEs: a flat brownish grey)."""


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """MODEL, CLIP and VAE of one checkpoint file."""

    name: str
    part: str

    def __repr__(self) -> str:
        return f"<{self.part} of {self.name}>"


@dataclass(frozen=True, slots=True)
class Conditioning:
    text: str

    def __repr__(self) -> str:
        return f"[[cond for {self.text!r}]]"


@dataclass(frozen=True, slots=True)
class Latent:
    """A batch of latents in pixel units (multiples of 8); a ``None`` picture is empty."""

    width: int
    height: int
    pictures: tuple[Image.Image | None, ...]

    def __repr__(self) -> str:
        shape = [len(self.pictures), 4, self.height // 8, self.width // 8]
        return f"{{'samples': tensor(shape={shape})}}"

    def resized(self, width: int, height: int, method: str) -> Latent:
        pictures = tuple(
            None if p is None else p.resize((width, height), RESAMPLING[method])
            for p in self.pictures
        )
        return Latent(width, height, pictures)

    def decoded(self) -> Images:
        size = (self.width, self.height)
        return Images(
            tuple(Image.new("RGB", size, _EMPTY_DECODE) if p is None else p for p in self.pictures)
        )


@dataclass(frozen=True, slots=True)
class Images:
    """An IMAGE batch."""

    frames: tuple[Image.Image, ...]

    def __repr__(self) -> str:
        width, height = self.frames[0].size
        return f"tensor(shape=[{len(self.frames)}, {height}, {width}, 3])"

    def resized(self, width: int, height: int, method: str) -> Images:
        return Images(tuple(f.resize((width, height), RESAMPLING[method]) for f in self.frames))


@dataclass(frozen=True, slots=True)
class Video:
    """A VIDEO (``CreateVideo``'s output): frames and a frame rate."""

    frames: tuple[Image.Image, ...]
    fps: float

    def __repr__(self) -> str:
        return "<comfy_api.latest._input_impl.video_types.VideoFromComponents object>"


def sample(latent: Latent, text: str, seed: int, denoise: float, *, moving: bool = False) -> Latent:
    """KSampler: each item becomes the seed's picture for ``text``; with a picture already
    there (img2img), a blend in which ``denoise`` is the new picture's share.

    ``moving``: the batch is a video's frames: every item starts from the same picture
    (item 0's), and item ``k`` shows it at moment ``k`` of the clip (``moving_frame``)."""
    out = []
    count = len(latent.pictures)
    first: Image.Image | None = None
    for index, existing in enumerate(latent.pictures):
        fresh: Image.Image | None = None
        if denoise > 0 or existing is None:
            if not moving:
                fresh = render_image(ImageSpec(text, seed, index, latent.width, latent.height))
            else:
                first = first or render_image(ImageSpec(text, seed, 0, latent.width, latent.height))
                fresh = first
        if existing is None:
            assert fresh is not None
            picture = fresh
        elif fresh is None:
            picture = existing
        else:
            picture = Image.blend(existing.convert("RGB"), fresh, denoise)
        out.append(moving_frame(picture, text, seed, index, count) if moving else picture)
    return Latent(latent.width, latent.height, tuple(out))


def format_value(value: Any) -> Any:
    """How ``execution_error.current_inputs`` shows a value (plain values as they are)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
