"""Fetch a result image from the service, refusing anything unsafe.

The URL must be on the service's own origin (so the bearer token only ever goes there),
redirects stay within it, the body is capped, and Pillow must recognise a complete PNG, JPEG
or WebP within the pixel cap (``bot/backend/fetch.py``, ``bot/media/images.py``)."""

from __future__ import annotations

import httpx

from bot.backend.fetch import fetch_image
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.types import Media


async def download_image(client: SuperDuperClient, raw_url: str) -> Media:
    """Download and verify one image from the service's origin."""

    async def send(target: str) -> httpx.Response:
        return await client.send("GET", target, stream=True)

    settings = client.settings
    return await fetch_image(send, raw_url, base=httpx.URL(settings.base_url), limits=settings)
