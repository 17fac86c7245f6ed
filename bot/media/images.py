"""Checks for image bytes from outside (service results, chat attachments).

Only PNG, JPEG and WebP are opened, under a pixel cap, with Pillow's
``DecompressionBombWarning`` treated as an error, and fully decoded before use."""

from __future__ import annotations

import asyncio
import io
import warnings
from typing import Final

from PIL import Image

from bot.backend.errors import DownloadRefused
from bot.backend.types import Media

ALLOWED_FORMATS: Final = ("PNG", "JPEG", "WEBP")
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
ACCEPTED_DECLARED: Final = frozenset({*CONTENT_TYPES.values(), "image/jpg"})
SNIFFED_DECLARED: Final = frozenset({"", "application/octet-stream"})
EXTENSIONS: Final = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}


async def inspect_image(data: bytes, *, declared_type: str, max_pixels: int) -> Media:
    """Check ``data`` is a complete PNG/JPEG/WebP within ``max_pixels``; decode it off-loop.

    The header checks run synchronously under a local ``catch_warnings`` that turns
    Pillow's ``DecompressionBombWarning`` into an error (no await inside it, and Pillow's global
    ``MAX_IMAGE_PIXELS`` is left alone). Only after the size is known to be within the cap is
    the full decode (which catches truncated data) handed to a worker thread."""
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
    await asyncio.to_thread(_decode_fully, data)
    return Media(data=data, content_type=CONTENT_TYPES[fmt], format=fmt, width=width, height=height)


def _normal(content_type: str) -> str:
    return "image/jpeg" if content_type == "image/jpg" else content_type


def _decode_fully(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image.load()
    except Exception as exc:
        raise DownloadRefused(f"the image data is damaged ({type(exc).__name__})") from None
