"""What flows along the links of an emulated workflow: real pictures, fake models.

Pictures are PIL images, so what a workflow produces is visible and deterministic;
models, CLIP and VAE are tokens naming their checkpoint.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from PIL import Image

from emulator.render import ImageSpec, render_image

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


def sample(latent: Latent, text: str, seed: int, denoise: float) -> Latent:
    """KSampler: each item becomes the seed's picture for ``text``; with a picture already
    there (img2img), a blend in which ``denoise`` is the new picture's share."""
    out = []
    for index, existing in enumerate(latent.pictures):
        spec = ImageSpec(text, seed, index, latent.width, latent.height)
        fresh = render_image(spec) if denoise > 0 or existing is None else None
        if existing is None:
            out.append(fresh)
        elif fresh is None:
            out.append(existing)
        else:
            out.append(Image.blend(existing.convert("RGB"), fresh, denoise))
    return Latent(latent.width, latent.height, tuple(out))


def format_value(value: Any) -> Any:
    """How ``execution_error.current_inputs`` shows a value (plain values as they are)."""
    if value is None or isinstance(value, str | int | float | bool):
        return value
    return str(value)
