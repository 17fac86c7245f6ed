"""Fetch a result (image or video) from the service, refusing anything unsafe.

The URL must be on the service's own origin (so the bearer token only ever goes there),
redirects stay within it, the body is capped, and the bytes must be a complete PNG, JPEG or
WebP (or an MP4/WebM/GIF whose first frame decodes) within the pixel cap
(``bot/backend/fetch.py``, ``bot/media/images.py``, ``bot/media/video.py``)."""

from __future__ import annotations

import httpx

from bot.backend.fetch import fetch_media
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.types import Media


async def download_image(client: SuperDuperClient, raw_url: str) -> Media:
    """Download and verify one image from the service's origin."""
    return await _download(client, raw_url, video=False)


async def download_video(client: SuperDuperClient, raw_url: str) -> Media:
    """Download and verify one video (MP4/WebM/GIF) from the service's origin."""
    return await _download(client, raw_url, video=True)


async def _download(client: SuperDuperClient, raw_url: str, *, video: bool) -> Media:
    async def send(target: str) -> httpx.Response:
        return await client.send("GET", target, stream=True)

    settings = client.settings
    base = httpx.URL(settings.base_url)
    return await fetch_media(send, raw_url, base=base, limits=settings, video=video)
