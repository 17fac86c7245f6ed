"""Checks and re-encoding for short videos, through the ffmpeg that ships inside the
``imageio-ffmpeg`` wheel (no system install needed).

A video from outside must have the container's magic bytes (MP4 ``ftyp``, WebM EBML,
GIF) and a first frame ffmpeg can decode, within a byte and pixel cap; that frame is also
the poster shown when a clip cannot be posted."""

from __future__ import annotations

import asyncio
import io
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from PIL import Image

from bot.backend.errors import DownloadRefused
from bot.backend.types import Media

CONTENT_TYPES: Final = {"MP4": "video/mp4", "WEBM": "video/webm", "GIF": "image/gif"}
EXTENSIONS: Final = {"MP4": "mp4", "WEBM": "webm", "GIF": "gif"}
FFMPEG_TIMEOUT: Final = 120.0
_DURATION: Final = re.compile(rb"Duration: (\d+):(\d\d):(\d\d(?:\.\d+)?)")


class VideoError(Exception):
    """ffmpeg could not do it; ``str(exc)`` says what, briefly."""


def ffmpeg() -> str:
    """The path of the bundled ffmpeg binary."""
    import imageio_ffmpeg

    return str(imageio_ffmpeg.get_ffmpeg_exe())


def container_of(data: bytes) -> str | None:
    """``MP4`` / ``WEBM`` / ``GIF`` from the first bytes, or None."""
    if len(data) >= 12 and data[4:8] == b"ftyp":
        return "MP4"
    if data[:4] == b"\x1a\x45\xdf\xa3":
        return "WEBM"
    if data[:6] in (b"GIF87a", b"GIF89a"):
        return "GIF"
    return None


@dataclass(frozen=True, slots=True)
class FirstFrame:
    png: bytes
    width: int
    height: int
    duration: float | None


async def first_frame(data: bytes) -> FirstFrame:
    """Decode the first frame (as PNG) and read the duration; ``VideoError`` if ffmpeg
    cannot (a damaged or disguised file)."""
    with tempfile.TemporaryDirectory(prefix="imagine-video-") as folder:
        source = Path(folder) / "in"
        await asyncio.to_thread(source.write_bytes, data)
        png, log = await _run(
            ["-i", str(source), "-frames:v", "1", "-f", "image2pipe", "-vcodec", "png", "-"]
        )
    if not png:
        raise VideoError("no frame could be decoded")
    with Image.open(io.BytesIO(png), formats=("PNG",)) as frame:
        width, height = frame.size
    match = _DURATION.search(log)
    duration = None
    if match:
        hours, minutes, seconds = match.groups()
        duration = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    return FirstFrame(png, width, height, duration)


async def inspect_video(data: bytes, *, declared_type: str, max_pixels: int) -> Media:
    """Check a downloaded video (magic bytes, a decodable first frame within the pixel
    cap, the declared type matching); ``DownloadRefused`` otherwise."""
    fmt = container_of(data)
    if fmt is None:
        raise DownloadRefused("not an MP4, WebM or GIF video")
    expected = CONTENT_TYPES[fmt]
    if declared_type.startswith(("video/", "image/gif")) and declared_type != expected:
        raise DownloadRefused(f"the video is {fmt} but was declared as {declared_type!r}")
    try:
        frame = await first_frame(data)
    except VideoError as exc:
        raise DownloadRefused(f"the video could not be decoded ({exc})") from None
    if frame.width * frame.height > max_pixels:
        raise DownloadRefused(
            f"the video is {frame.width}x{frame.height}, over the {max_pixels}-pixel limit"
        )
    return Media(data, expected, fmt, frame.width, frame.height, frame.duration)


async def shrink_video(data: bytes, limit: int) -> bytes | None:
    """An MP4 re-encoding under ``limit`` bytes (smaller frames, higher compression), or
    None when even the smallest try is too big."""
    with tempfile.TemporaryDirectory(prefix="imagine-video-") as folder:
        source, target = Path(folder) / "in", Path(folder) / "out.mp4"
        await asyncio.to_thread(source.write_bytes, data)
        for scale, crf in ((1.0, 30), (0.75, 34), (0.5, 38), (0.33, 42)):
            size = f"scale=trunc(iw*{scale}/2)*2:trunc(ih*{scale}/2)*2"
            encoding = ["-c:v", "libx264", "-preset", "veryfast", "-crf", str(crf)]
            output = ["-pix_fmt", "yuv420p", "-an", "-movflags", "+faststart", str(target)]
            await _run(["-y", "-i", str(source), "-vf", size, *encoding, *output])
            encoded = await asyncio.to_thread(target.read_bytes)
            if len(encoded) <= limit:
                return encoded
    return None


async def _run(args: list[str]) -> tuple[bytes, bytes]:
    """Run ffmpeg with ``args`` (bounded in time); its stdout and stderr."""
    process = await asyncio.create_subprocess_exec(
        ffmpeg(),
        "-hide_banner",
        "-nostdin",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(FFMPEG_TIMEOUT):
            out, err = await process.communicate()
    except TimeoutError:
        process.kill()
        await process.wait()
        raise VideoError("ffmpeg took too long") from None
    if process.returncode != 0:
        last = err.decode(errors="replace").strip().splitlines()[-1:] or ["failed"]
        raise VideoError(last[0][:200])
    return out, err
