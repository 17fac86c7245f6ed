"""Make a result image fit a platform's upload limit (re-encode, never drop)."""

from __future__ import annotations

import io
from dataclasses import dataclass, field
from pathlib import PurePath

from PIL import Image

_WEBP_QUALITIES = (90, 80, 70)
_JPEG_QUALITIES = (85, 75, 60, 45)
_DOWNSCALE = 0.75
_MIN_SIDE = 64


@dataclass(frozen=True, slots=True)
class FittedImage:
    data: bytes = field(repr=False)
    filename: str
    content_type: str


def fit_to_limit(data: bytes, filename: str, limit: int) -> FittedImage:
    """A re-encoding of an image over ``limit`` bytes that fits: WebP at falling quality,
    then JPEG at falling quality, then JPEG of a repeatedly downscaled copy. CPU-bound:
    call it in a worker thread."""
    stem = PurePath(filename).stem or "image"
    with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as opened:
        opened.load()
        image = opened.copy()
    has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    webp_source = image.convert("RGBA" if has_alpha else "RGB")
    for quality in _WEBP_QUALITIES:
        encoded = _encode(webp_source, "WEBP", quality)
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.webp", "image/webp")
    rgb = image.convert("RGB")
    for quality in _JPEG_QUALITIES:
        encoded = _encode(rgb, "JPEG", quality)
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.jpg", "image/jpeg")
    while min(rgb.size) > _MIN_SIDE:
        size = (max(1, int(rgb.width * _DOWNSCALE)), max(1, int(rgb.height * _DOWNSCALE)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        encoded = _encode(rgb, "JPEG", _JPEG_QUALITIES[1])
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.jpg", "image/jpeg")
    raise ValueError(f"cannot fit the image in {limit} bytes")


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "WEBP":
        image.save(out, format="WEBP", quality=quality, method=4)
    else:
        image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
