"""Fetch a result image from the service, refusing anything unsafe.

Checks, in order: the URL is http(s) on the service's own origin (scheme, host, port) —
which also guarantees the bearer token only ever goes to the service; redirects are followed
by hand, a few at most, and only within that origin; the declared type is an image this bot
posts (a missing or ``application/octet-stream`` type is sniffed instead); the body is within
the byte cap (``Content-Length`` first, then counted while streaming); Pillow recognises it as
PNG, JPEG or WebP, within the pixel cap, not a decompression bomb, and it decodes fully.
"""

from __future__ import annotations

import asyncio
import io
import warnings
from typing import Final

import httpx
from PIL import Image

from bot.backend.errors import DownloadRefused, FileNotFound
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.types import DownloadedImage

ALLOWED_FORMATS: Final = ("PNG", "JPEG", "WEBP")
CONTENT_TYPES: Final = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}
_ACCEPTED_DECLARED: Final = frozenset({*CONTENT_TYPES.values(), "image/jpg"})
_SNIFFED_DECLARED: Final = frozenset({"", "application/octet-stream"})
_REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})


def origin_of(url: httpx.URL) -> tuple[str, str, int]:
    scheme = url.scheme.lower()
    port = url.port if url.port is not None else (443 if scheme == "https" else 80)
    return scheme, url.host.lower(), port


def checked_url(raw: str, *, base: httpx.URL, origin: tuple[str, str, int]) -> httpx.URL:
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


async def download_image(client: SuperDuperClient, raw_url: str) -> DownloadedImage:
    """Download and verify one image from the service's origin (see the module docstring)."""
    settings = client.settings
    base = httpx.URL(settings.base_url)
    origin = origin_of(base)
    url = checked_url(raw_url, base=base, origin=origin)
    try:
        async with asyncio.timeout(settings.download_timeout):
            data, declared = await _fetch(client, url, origin)
    except TimeoutError:
        raise DownloadRefused(
            f"the download took longer than {settings.download_timeout:g}s"
        ) from None
    return await inspect_image(data, declared_type=declared, max_pixels=settings.max_pixels)


async def _fetch(
    client: SuperDuperClient, url: httpx.URL, origin: tuple[str, str, int]
) -> tuple[bytes, str]:
    settings = client.settings
    for _hop in range(settings.max_redirects + 1):
        response = await client.send("GET", str(url), stream=True)
        try:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("Location")
                if not location:
                    raise DownloadRefused(f"HTTP {status} redirect without a Location")
                url = checked_url(location, base=url, origin=origin)
                continue
            if status == 404:
                raise FileNotFound("the service no longer has this image")
            if status != 200:
                raise DownloadRefused(f"unexpected HTTP {status} for the image")
            declared = _declared_type(response)
            if declared not in _ACCEPTED_DECLARED and declared not in _SNIFFED_DECLARED:
                raise DownloadRefused(f"refusing content of type {declared!r}, not an image")
            return await _read_capped(response, settings.max_download_bytes), declared
        finally:
            await response.aclose()
    raise DownloadRefused(f"more than {settings.max_redirects} redirect(s)")


def _declared_type(response: httpx.Response) -> str:
    value = str(response.headers.get("Content-Type", ""))
    return value.split(";", 1)[0].strip().lower()


async def _read_capped(response: httpx.Response, cap: int) -> bytes:
    length = response.headers.get("Content-Length")
    if length is not None:
        try:
            declared = int(length)
        except ValueError:
            raise DownloadRefused("the image has an invalid Content-Length") from None
        if declared > cap:
            raise DownloadRefused(f"the image is {declared} bytes, over the {cap}-byte limit")
    buffer = bytearray()
    try:
        async for chunk in response.aiter_bytes():
            buffer += chunk
            if len(buffer) > cap:
                raise DownloadRefused(f"the image is over the {cap}-byte limit")
    except httpx.HTTPError as exc:
        raise DownloadRefused(f"the image download broke off ({type(exc).__name__})") from None
    return bytes(buffer)


async def inspect_image(data: bytes, *, declared_type: str, max_pixels: int) -> DownloadedImage:
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
    if declared_type in _ACCEPTED_DECLARED and _normal(declared_type) != CONTENT_TYPES[fmt]:
        raise DownloadRefused(f"the image is {fmt} but was declared as {declared_type!r}")
    await asyncio.to_thread(_decode_fully, data)
    return DownloadedImage(
        data=data, content_type=CONTENT_TYPES[fmt], format=fmt, width=width, height=height
    )


def _normal(content_type: str) -> str:
    return "image/jpeg" if content_type == "image/jpg" else content_type


def _decode_fully(data: bytes) -> None:
    try:
        with Image.open(io.BytesIO(data), formats=ALLOWED_FORMATS) as image:
            image.load()
    except Exception as exc:
        raise DownloadRefused(f"the image data is damaged ({type(exc).__name__})") from None
