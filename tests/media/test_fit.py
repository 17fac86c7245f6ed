"""Re-encoding images that are over a platform's upload limit."""

from __future__ import annotations

import io
import os

from PIL import Image

from bot.media.fit import fit_to_limit


def noisy_png(width: int, height: int) -> bytes:
    image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        copy = image.copy()
        copy.format = image.format
        return copy


def test_a_tight_limit_falls_back_to_a_downscaled_jpeg() -> None:
    data = noisy_png(512, 512)
    fitted = fit_to_limit(data, "job.png", 20 * 1024)
    assert len(fitted.data) <= 20 * 1024
    image = decode(fitted.data)
    assert fitted.filename == "job.jpg" and image.format == "JPEG"
    assert fitted.content_type == "image/jpeg"
    assert image.width < 512 and image.width == image.height  # aspect ratio kept


def test_transparency_survives_as_webp() -> None:
    image = Image.frombytes("RGBA", (256, 256), os.urandom(256 * 256 * 4))
    out = io.BytesIO()
    image.save(out, format="PNG")
    fitted = fit_to_limit(out.getvalue(), "job.png", len(out.getvalue()) - 1)
    assert (fitted.filename, fitted.content_type) == ("job.webp", "image/webp")
    assert decode(fitted.data).mode == "RGBA"
