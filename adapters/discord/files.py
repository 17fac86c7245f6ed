"""Image prompts: fetching a user's attachment from Discord's own file hosts only.

An attachment's URL is Discord's (``cdn.discordapp.com``, ``media.discordapp.net``), or
on the host of ``DISCORD_API_BASE`` when one is configured (a proxy, the fake Discord in
the tests). Anything else is refused without a request. The size is checked twice: the
size Discord declared, then the bytes as they arrive (never more than ``max_bytes + 1``
are read). No credentials are sent: Discord's attachment URLs are signed themselves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final
from urllib.parse import urlsplit

import aiohttp

from bot.chat import Attachment, DeliveryError

DISCORD_FILE_HOSTS: Final = ("cdn.discordapp.com", "media.discordapp.net")
FETCH_TIMEOUT: Final = aiohttp.ClientTimeout(total=60, sock_connect=10)
CHUNK: Final = 64 * 1024

Origin = tuple[str, str, int]
"""(scheme, host, port) of a URL."""


def _origin(url: str) -> Origin | None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return None
    return parts.scheme, parts.hostname.lower(), port or (443 if parts.scheme == "https" else 80)


@dataclass(frozen=True, slots=True)
class FileHosts:
    """Where attachments may be fetched from."""

    origins: frozenset[Origin]

    @classmethod
    def for_api_base(cls, api_base: str | None) -> FileHosts:
        origins = {("https", host, 443) for host in DISCORD_FILE_HOSTS}
        extra = _origin(api_base) if api_base else None
        if extra is not None:
            origins.add(extra)
        return cls(frozenset(origins))

    def allows(self, url: str) -> bool:
        return _origin(url) in self.origins


def megabytes(size: int) -> str:
    """``25 MB``, ``2.5 MB``, ``900 KB``, as people read file sizes."""
    if size < 1024 * 1024:
        return f"{max(1, round(size / 1024))} KB"
    return f"{size / (1024 * 1024):.1f}".removesuffix(".0") + " MB"


async def fetch_attachment(
    connector: aiohttp.BaseConnector | None,
    hosts: FileHosts,
    attachment: Attachment,
    max_bytes: int,
) -> bytes:
    """The attachment's bytes; ``DeliveryError`` worded for its sender otherwise.
    ``connector`` is discord.py's (one connection pool for the process's Discord traffic)."""
    if not hosts.allows(attachment.url):
        raise DeliveryError(
            "it isn't a file uploaded to Discord, and those are the only ones I fetch. "
            "Attach the image to the command itself.",
            permanent=True,
        )
    too_big = DeliveryError(
        f"it's larger than {megabytes(max_bytes)}, the most I take. Try a smaller image.",
        permanent=True,
    )
    if attachment.size is not None and attachment.size > max_bytes:
        raise DeliveryError(
            f"it's {megabytes(attachment.size)} and the most I take is {megabytes(max_bytes)}. "
            "Try a smaller image.",
            permanent=True,
        )
    if connector is None or connector.closed:
        raise DeliveryError("I'm not connected to Discord right now; try again.", permanent=False)
    try:
        async with (
            aiohttp.ClientSession(
                connector=connector, connector_owner=False, timeout=FETCH_TIMEOUT
            ) as session,
            session.get(attachment.url, allow_redirects=False) as response,
        ):
            if response.status != 200:
                raise DeliveryError(
                    f"Discord's file host didn't hand it over (HTTP {response.status}). "
                    "Attach it again.",
                    permanent=response.status in (401, 403, 404, 410),
                )
            if response.content_length is not None and response.content_length > max_bytes:
                raise too_big
            data = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise too_big
    except (aiohttp.ClientError, TimeoutError):
        raise DeliveryError(
            "Discord's file host didn't answer; try again in a moment.", permanent=False
        ) from None
    return bytes(data)
