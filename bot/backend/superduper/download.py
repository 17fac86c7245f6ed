"""Fetch a result image from the service, refusing anything unsafe.

The URL must be on the service's own origin (so the bearer token only ever goes there),
redirects stay within it, the body is capped (``bot/backend/fetch.py``), and Pillow must
recognise a complete PNG, JPEG or WebP within the pixel cap (``bot/media/images.py``)."""

from __future__ import annotations

import asyncio

import httpx

from bot.backend.errors import DownloadRefused
from bot.backend.fetch import checked_url, fetch_capped, origin_of
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.types import Media
from bot.media.images import ACCEPTED_DECLARED, inspect_image
from bot.media.video import CONTENT_TYPES as VIDEO_CONTENT_TYPES
from bot.media.video import inspect_video

VIDEO_TYPES = frozenset(VIDEO_CONTENT_TYPES.values())


async def download_image(client: SuperDuperClient, raw_url: str) -> Media:
    """Download and verify one image from the service's origin."""
    return await _download(client, raw_url, video=False)


async def download_video(client: SuperDuperClient, raw_url: str) -> Media:
    """Download and verify one video (MP4/WebM/GIF) from the service's origin."""
    return await _download(client, raw_url, video=True)


async def _download(client: SuperDuperClient, raw_url: str, *, video: bool) -> Media:
    settings = client.settings
    base = httpx.URL(settings.base_url)
    origin = origin_of(base)
    url = checked_url(raw_url, base=base, origin=origin)

    async def send(target: str) -> httpx.Response:
        return await client.send("GET", target, stream=True)

    try:
        async with asyncio.timeout(settings.download_timeout):
            data, declared = await fetch_capped(
                send,
                url,
                origin=origin,
                max_redirects=settings.max_redirects,
                max_bytes=settings.max_video_bytes if video else settings.max_download_bytes,
                accepted_types=VIDEO_TYPES if video else ACCEPTED_DECLARED,
                what="the video" if video else "the image",
                expected="a video" if video else "an image",
            )
    except TimeoutError:
        raise DownloadRefused(
            f"the download took longer than {settings.download_timeout:g}s"
        ) from None
    if video:
        return await inspect_video(data, declared_type=declared, max_pixels=settings.max_pixels)
    return await inspect_image(data, declared_type=declared, max_pixels=settings.max_pixels)
