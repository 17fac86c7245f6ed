"""Checks for image bytes from outside (service results, chat attachments).

Only PNG, JPEG and WebP are opened, under a pixel cap, with Pillow's
``DecompressionBombWarning`` treated as an error, and checked complete before use: a JPEG
or WebP by decoding it, a PNG by inflating its image data (``png.py``: what the decode
would catch, at a fraction of its cost)."""

from __future__ import annotations

import asyncio
import io
import warnings
import zlib
from typing import Final

from PIL import Image

from bot.backend.errors import DownloadRefused
from bot.backend.types import Media
from bot.media.png import DamagedPng, check_png_data

ALLOWED_FORMATS: Final = ("PNG", "JPEG", "WEBP")
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
ACCEPTED_DECLARED: Final = frozenset({*CONTENT_TYPES.values(), "image/jpg"})
SNIFFED_DECLARED: Final = frozenset({"", "application/octet-stream"})
EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
INLINE_PIXELS: Final = 512 * 512
"""A PNG this small is checked on the event loop (well under a millisecond): a worker
thread's round trip would cost more than the check."""


async def inspect_image(data: bytes, *, declared_type: str, max_pixels: int) -> Media:
    """Check ``data`` is a complete PNG/JPEG/WebP within ``max_pixels``; decode it off-loop.

    The header checks run synchronously under a local ``catch_warnings`` that turns
    Pillow's ``DecompressionBombWarning`` into an error (no await inside it, and Pillow's global
    ``MAX_IMAGE_PIXELS`` is left alone). Only after the size is known to be within the cap is
    the completeness check (which catches truncated or damaged data) run, on a worker thread
    unless the image is small."""
    if not data:
        raise DownloadRefused("the image is empty")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
                fmt = image.format or ""
                width, height = image.size
                if width * height > max_pixels:
                    raise DownloadRefused(
                        f"the image is {width}x{height}, over the {max_pixels}-pixel limit"
                    )
                image.verify()
        except DownloadRefused:
            raise
        except (Image.DecompressionBombWarning, Image.DecompressionBombError):
            raise DownloadRefused("the image looks like a decompression bomb") from None
        except Exception as exc:  # Pillow raises many types for bad data
            raise DownloadRefused(
                f"not a valid PNG, JPEG or WebP image ({type(exc).__name__})"
            ) from None
    if fmt not in CONTENT_TYPES:
        raise DownloadRefused(f"unsupported image format {fmt!r}")
    if declared_type in ACCEPTED_DECLARED and _normal(declared_type) != CONTENT_TYPES[fmt]:
        raise DownloadRefused(f"the image is {fmt} but was declared as {declared_type!r}")
    if fmt != "PNG":
        await asyncio.to_thread(_decode_fully, data)
    elif width * height <= INLINE_PIXELS:
        _check_png(data)
    else:
        await asyncio.to_thread(_check_png, data)
    return Media(data=data, content_type=CONTENT_TYPES[fmt], format=fmt, width=width, height=height)


def _normal(content_type: str) -> str:
    return "image/jpeg" if content_type == "image/jpg" else content_type


def _check_png(data: bytes) -> None:
    try:
        check_png_data(data)
    except (DamagedPng, zlib.error) as exc:
        raise DownloadRefused(f"the image data is damaged ({type(exc).__name__})") from None


def _decode_fully(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image.load()
    except Exception as exc:
        raise DownloadRefused(f"the image data is damaged ({type(exc).__name__})") from None
