"""Deterministic placeholder PNGs: same prompt + seed + index give the same bytes."""

from __future__ import annotations

import hashlib
import io
import textwrap
from collections import OrderedDict
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont

_SHAPES = 5
_MAX_PROMPT_CHARS = 240


@dataclass(frozen=True, slots=True)
class ImageSpec:
    """Everything the picture depends on."""

    prompt: str
    seed: int
    index: int
    width: int
    height: int


def render_png(spec: ImageSpec) -> bytes:
    """Draw a gradient, a few shapes and the prompt text; encode with fast PNG settings."""
    digest = hashlib.sha256(f"{spec.prompt}\x00{spec.seed}\x00{spec.index}".encode()).digest()
    size = (spec.width, spec.height)
    start = (digest[0], digest[1], digest[2])
    end = (digest[3], digest[4], digest[5])
    gradient = Image.linear_gradient("L")
    orientation = digest[6] % 5
    if orientation == 4:
        gradient = Image.radial_gradient("L")
    elif orientation:
        gradient = gradient.transpose(
            (
                Image.Transpose.FLIP_TOP_BOTTOM,
                Image.Transpose.ROTATE_90,
                Image.Transpose.ROTATE_270,
            )[orientation - 1]
        )
    mask = gradient.resize(size, Image.Resampling.BILINEAR)
    image = Image.composite(Image.new("RGB", size, end), Image.new("RGB", size, start), mask)
    draw = ImageDraw.Draw(image)
    for shape in range(_SHAPES):
        b = digest[7 + shape * 5 : 12 + shape * 5]
        x0, y0 = b[0] * spec.width // 256, b[1] * spec.height // 256
        x1 = x0 + (b[2] + 32) * spec.width // 512
        y1 = y0 + (b[3] + 32) * spec.height // 512
        colour = (b[4], b[0] ^ b[3], b[1] ^ b[2])
        if b[4] % 2:
            draw.ellipse((x0, y0, x1, y1), fill=colour)
        else:
            draw.rectangle((x0, y0, x1, y1), fill=colour)
    _draw_prompt(draw, spec)
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def _draw_prompt(draw: ImageDraw.ImageDraw, spec: ImageSpec) -> None:
    font_size = max(8, min(spec.width, spec.height) // 20)
    font = ImageFont.load_default(size=font_size)
    chars_per_line = max(4, int(spec.width / (font_size * 0.6)) - 2)
    max_lines = max(1, spec.height // (font_size + 4) - 1)
    text = spec.prompt[:_MAX_PROMPT_CHARS]
    lines = textwrap.wrap(text, chars_per_line)[:max_lines] or [""]
    block = "\n".join(lines)
    left, top, right, bottom = draw.multiline_textbbox(
        (font_size // 2, font_size // 2), block, font=font
    )
    pad = max(2, font_size // 4)
    draw.rectangle((left - pad, top - pad, right + pad, bottom + pad), fill=(0, 0, 0))
    draw.multiline_text((font_size // 2, font_size // 2), block, font=font, fill=(255, 255, 255))


class ImageCache:
    """A small LRU of rendered PNGs (rendering happens only on download)."""

    def __init__(self, max_entries: int = 16) -> None:
        self._max_entries = max_entries
        self._entries: OrderedDict[ImageSpec, bytes] = OrderedDict()

    def get(self, spec: ImageSpec) -> bytes | None:
        data = self._entries.get(spec)
        if data is not None:
            self._entries.move_to_end(spec)
        return data

    def put(self, spec: ImageSpec, data: bytes) -> None:
        self._entries[spec] = data
        self._entries.move_to_end(spec)
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)
