"""Looking at clips as a person would: their frames, how much they change, what moves."""

from __future__ import annotations

import subprocess

import imageio_ffmpeg
from PIL import Image, ImageChops, ImageStat


def frames_of(clip: bytes, size: tuple[int, int]) -> list[Image.Image]:
    """Every frame of ``clip`` (``size`` pixels), decoded by the bundled ffmpeg."""
    raw = subprocess.run(
        [imageio_ffmpeg.get_ffmpeg_exe(), "-loglevel", "error", "-i", "-", "-f", "rawvideo",
         "-pix_fmt", "rgb24", "-"],
        input=clip, capture_output=True, check=True,
    ).stdout  # fmt: skip
    step = size[0] * size[1] * 3
    return [Image.frombytes("RGB", size, raw[i : i + step]) for i in range(0, len(raw), step)]


def change(a: Image.Image, b: Image.Image) -> float:
    """Mean absolute difference per channel (0 = identical)."""
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def moved(frame: Image.Image, first: Image.Image) -> tuple[int, int, int, int] | None:
    """Where ``frame`` differs from ``first`` clearly (not just by compression)."""
    mask = ImageChops.difference(frame, first).convert("L").point(lambda v: 255 if v > 40 else 0)
    return mask.getbbox()
