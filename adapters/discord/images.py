"""Make a result image fit Discord's upload limit (re-encode, never drop)."""

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


def fit_to_limit(data: bytes, filename: str, limit: int) -> FittedImage:
    """Return ``data`` unchanged when it fits in ``limit`` bytes, else a re-encoding
    that does: WebP at falling quality, then JPEG at falling quality, then JPEG of a
    repeatedly downscaled copy. CPU-bound: call it in a worker thread."""
    if len(data) <= limit:
        return FittedImage(data, filename)
    stem = PurePath(filename).stem or "image"
    with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as opened:
        opened.load()
        image = opened.copy()
    has_alpha = image.mode in ("RGBA", "LA") or "transparency" in image.info
    webp_source = image.convert("RGBA" if has_alpha else "RGB")
    for quality in _WEBP_QUALITIES:
        encoded = _encode(webp_source, "WEBP", quality)
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.webp")
    rgb = image.convert("RGB")
    for quality in _JPEG_QUALITIES:
        encoded = _encode(rgb, "JPEG", quality)
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.jpg")
    while min(rgb.size) > _MIN_SIDE:
        size = (max(1, int(rgb.width * _DOWNSCALE)), max(1, int(rgb.height * _DOWNSCALE)))
        rgb = rgb.resize(size, Image.Resampling.LANCZOS)
        encoded = _encode(rgb, "JPEG", _JPEG_QUALITIES[1])
        if len(encoded) <= limit:
            return FittedImage(encoded, f"{stem}.jpg")
    raise ValueError(f"cannot fit the image in {limit} bytes")


def _encode(image: Image.Image, fmt: str, quality: int) -> bytes:
    out = io.BytesIO()
    if fmt == "WEBP":
        image.save(out, format="WEBP", quality=quality, method=4)
    else:
        image.save(out, format="JPEG", quality=quality, optimize=True)
    return out.getvalue()
