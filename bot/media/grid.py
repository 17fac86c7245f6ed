"""One grid picture from a batch: tiles side by side (1×2) or 2×2, each numbered."""

from __future__ import annotations

import io
from collections.abc import Sequence

from PIL import Image, ImageDraw, ImageFont

MAX_SIDE = 2048
"""The grid's longer side at most (tiles are scaled down to fit)."""
_GAP = 8


def compose_grid(tiles: Sequence[tuple[int, bytes]], total: int) -> tuple[bytes, int, int]:
    """A PNG of the batch's images, with its width and height. ``tiles`` are (0-based
    index, image bytes) of the images that exist (a failed one leaves its place empty),
    ``total`` the batch size. Each tile carries its 1-based number, the one its U/V
    buttons use. CPU-bound: run it in a worker thread."""
    columns = 1 if total == 1 else 2
    rows = (total + columns - 1) // columns
    opened = {index: _open(data) for index, data in tiles}
    first = next(iter(opened.values()))
    scale = min(1.0, (MAX_SIDE - _GAP) / (max(first.width * columns, first.height * rows)))
    tile_w, tile_h = max(1, int(first.width * scale)), max(1, int(first.height * scale))
    grid = Image.new(
        "RGB", (tile_w * columns + _GAP * (columns - 1), tile_h * rows + _GAP * (rows - 1)), "white"
    )
    draw = ImageDraw.Draw(grid)
    font = ImageFont.load_default(size=max(14, tile_h // 12))
    for index in range(total):
        x = (index % columns) * (tile_w + _GAP)
        y = (index // columns) * (tile_h + _GAP)
        image = opened.get(index)
        if image is not None:
            grid.paste(image.resize((tile_w, tile_h), Image.Resampling.LANCZOS), (x, y))
        _number(draw, font, index + 1, x, y, tile_h)
    out = io.BytesIO()
    grid.save(out, "PNG", compress_level=3)
    return out.getvalue(), grid.width, grid.height


def _open(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as image:
        image.load()
        return image.convert("RGB")


def _number(
    draw: ImageDraw.ImageDraw,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    number: int,
    x: int,
    y: int,
    tile_h: int,
) -> None:
    """The tile's number in its bottom-left corner (a badge that reads on any picture)."""
    pad = max(4, tile_h // 40)
    label = str(number)
    left, top, right, bottom = draw.textbbox((0, 0), label, font=font)
    width, height = right - left + pad * 2, bottom - top + pad * 2
    x0, y0 = x + pad, y + tile_h - pad - height
    draw.rounded_rectangle((x0, y0, x0 + width, y0 + height), radius=pad, fill=(0, 0, 0))
    draw.text((x0 + pad - left, y0 + pad - top), label, font=font, fill=(255, 255, 255))
