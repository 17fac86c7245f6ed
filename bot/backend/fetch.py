"""Origin-locked, size-capped HTTP downloads, shared by every backend.

Checks, in order: the URL is http(s) on the service's own origin (scheme, host, port) —
which also guarantees credentials only ever go to the service; redirects are followed by
hand, a few at most, and only within that origin; the declared content type is one the
caller accepts (a missing or ``application/octet-stream`` type is left to sniffing); the body
is within the byte cap (``Content-Length`` first, then counted while streaming)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection
from typing import Final, Protocol

import httpx

from bot.backend.errors import DownloadRefused, ResultLost
from bot.backend.types import Media
from bot.media.images import ACCEPTED_DECLARED, inspect_image
from bot.media.video import CONTENT_TYPES as VIDEO_CONTENT_TYPES
from bot.media.video import inspect_video

SNIFFED: Final = frozenset({"", "application/octet-stream"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
VIDEO_TYPES: Final = frozenset(VIDEO_CONTENT_TYPES.values())

Send = Callable[[str], Awaitable[httpx.Response]]
"""Sends ``GET url`` with the service's credentials and returns the *streamed* response."""

Origin = tuple[str, str, int]


class DownloadLimits(Protocol):
    @property
    def download_timeout(self) -> float: ...
    @property
    def max_download_bytes(self) -> int: ...
    @property
    def max_video_bytes(self) -> int: ...
    @property
    def max_pixels(self) -> int: ...
    @property
    def max_redirects(self) -> int: ...


def origin_of(url: httpx.URL) -> Origin:
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else (443 if scheme == "https" else 80)
    return scheme, url.host.lower(), port


def checked_url(raw: str, *, base: httpx.URL, origin: Origin) -> httpx.URL:
    """Resolve ``raw`` against ``base`` and refuse it unless it is http(s) on ``origin``."""
    try:
        url = base.join(raw)
    except (httpx.InvalidURL, ValueError):
        raise DownloadRefused("the result URL is not a valid URL") from None
    if url.scheme.lower() not in ("http", "https"):
        raise DownloadRefused(f"refusing a {url.scheme or 'scheme-less'}: URL; only http(s)")
    if url.userinfo:
        raise DownloadRefused("refusing a result URL with credentials in it")
    if origin_of(url) != origin:
        raise DownloadRefused(f"refusing a result URL on another host ({url.host})")
    return url


async def fetch_capped(
    send: Send,
    url: httpx.URL,
    *,
    origin: Origin,
    max_redirects: int,
    max_bytes: int,
    accepted_types: Collection[str],
    what: str = "the result",
    expected: str = "a supported type",
) -> tuple[bytes, str]:
    """GET ``url`` (already checked) within the limits; return the body and declared type."""
    for _hop in range(max_redirects + 1):
        response = await send(str(url))
        try:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise DownloadRefused(f"HTTP {status} redirect without a Location")
                url = checked_url(location, base=url, origin=origin)
                continue
            if status == 404:
                raise ResultLost(f"the service no longer has {what}")
            if status != 200:
                raise DownloadRefused(f"unexpected HTTP {status} for {what}")
            declared = declared_type(response)
            if declared not in accepted_types and declared not in SNIFFED:
                raise DownloadRefused(f"refusing content of type {declared!r}, not {expected}")
            return await read_capped(response, max_bytes, what), declared
        finally:
            await response.aclose()
    raise DownloadRefused(f"more than {max_redirects} redirect(s)")


async def fetch_media(
    send: Send, raw_url: str, *, base: httpx.URL, limits: DownloadLimits, video: bool = False
) -> Media:
    """Download ``raw_url`` (resolved against ``base``, on ``base``'s origin) within the limits
    and check it: a complete PNG, JPEG or WebP within the pixel cap (``bot/media/images.py``),
    or with ``video`` an MP4/WebM/GIF whose first frame decodes (``bot/media/video.py``)."""
    origin = origin_of(base)
    url = checked_url(raw_url, base=base, origin=origin)
    try:
        async with asyncio.timeout(limits.download_timeout):
            data, declared = await fetch_capped(
                send,
                url,
                origin=origin,
                max_redirects=limits.max_redirects,
                max_bytes=limits.max_video_bytes if video else limits.max_download_bytes,
                accepted_types=VIDEO_TYPES if video else ACCEPTED_DECLARED,
                what="the video" if video else "the image",
                expected="a video" if video else "an image",
            )
    except TimeoutError:
        raise DownloadRefused(
            f"the download took longer than {limits.download_timeout:g}s"
        ) from None
    inspect = inspect_video if video else inspect_image
    return await inspect(data, declared_type=declared, max_pixels=limits.max_pixels)


def declared_type(response: httpx.Response) -> str:
    value = str(response.headers.get("Content-Type", ""))
    return value.split(";", 1)[0].strip().lower()


async def read_capped(response: httpx.Response, cap: int, what: str = "the result") -> bytes:
    length = response.headers.get("Content-Length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise DownloadRefused(f"{what} has an invalid Content-Length") from None
        if declared > cap:
            raise DownloadRefused(f"{what} is {declared} bytes, over the {cap}-byte limit")
    buffer = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if len(buffer) > cap:
                raise DownloadRefused(f"{what} is over the {cap}-byte limit")
    except httpx.HTTPError as exc:
        raise DownloadRefused(f"the download of {what} broke off ({type(exc).__name__})") from None
    return bytes(buffer)
