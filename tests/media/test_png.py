"""The complete-PNG check (``bot/media/png.py``) agrees with Pillow's full decode: what
decodes passes, and damage a chunk CRC cannot see (the image data itself) is refused."""

from __future__ import annotations

import io
import struct
import zlib

import pytest
from PIL import Image

from bot.media.png import SIGNATURE, DamagedPng, check_png_data


def png_of(mode: str, size: tuple[int, int] = (37, 23), *, interlace: bool = False) -> bytes:
    """A PNG of varied pixels (so rows use different filters)."""
    bands = len(Image.new(mode, (1, 1)).getbands())
    pixels = bytes((i * 31 + i // 7) % 256 for i in range(size[0] * size[1] * bands))
    out = io.BytesIO()
    Image.frombytes(mode, size, pixels).save(out, "PNG", interlace=interlace)
    return out.getvalue()


def chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    pos, found = len(SIGNATURE), []
    while pos < len(data):
        (length,) = struct.unpack_from(">I", data, pos)
        found.append((data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]))
        pos += 12 + length
    return found


def build(parts: list[tuple[bytes, bytes]]) -> bytes:
    """A PNG with valid CRCs around whatever chunk bodies it is given."""
    out = bytearray(SIGNATURE)
    for kind, body in parts:
        out += struct.pack(">I", len(body)) + kind + body
        out += struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)
    return bytes(out)


def with_image_data(data: bytes, raw: bytes) -> bytes:
    """``data`` with its image data replaced by ``raw`` compressed (valid CRCs)."""
    parts = [(k, b) for k, b in chunks(data) if k != b"IDAT"]
    at = next(i for i, (k, _) in enumerate(parts) if k == b"IEND")
    return build([*parts[:at], (b"IDAT", zlib.compress(raw)), *parts[at:]])


def raw_rows(data: bytes) -> bytes:
    return zlib.decompress(b"".join(b for k, b in chunks(data) if k == b"IDAT"))


@pytest.mark.parametrize("mode", ["L", "LA", "RGB", "RGBA", "P", "1", "I;16"])
@pytest.mark.parametrize("interlace", [False, True])
def test_every_image_pillow_decodes_passes(mode: str, interlace: bool) -> None:
    data = png_of(mode, interlace=interlace) if mode in ("L", "LA", "RGB", "RGBA") else None
    if data is None:
        out = io.BytesIO()
        Image.new(mode, (37, 23)).save(out, "PNG", interlace=interlace)
        data = out.getvalue()
    Image.open(io.BytesIO(data)).load()

    check_png_data(data)


def test_image_data_short_of_its_rows_is_refused_though_every_crc_is_valid() -> None:
    good = png_of("RGB")
    short = with_image_data(good, raw_rows(good)[:-40])

    with pytest.raises(Exception):  # what a full decode says too  # noqa: B017
        Image.open(io.BytesIO(short)).load()
    with pytest.raises(DamagedPng):
        check_png_data(short)


def test_image_data_longer_than_its_rows_is_refused() -> None:
    good = png_of("RGB")

    with pytest.raises(DamagedPng):
        check_png_data(with_image_data(good, raw_rows(good) + b"\x00" * 200))


def test_an_unknown_row_filter_is_refused() -> None:
    good = png_of("RGB")
    raw = bytearray(raw_rows(good))
    raw[0] = 9  # the first row's filter byte

    with pytest.raises(DamagedPng):
        check_png_data(with_image_data(good, bytes(raw)))


def test_a_missing_header_or_signature_is_refused() -> None:
    good = png_of("L")

    with pytest.raises(DamagedPng):
        check_png_data(good[8:])
    with pytest.raises(DamagedPng):
        check_png_data(build([(k, b) for k, b in chunks(good) if k != b"IHDR"]))
