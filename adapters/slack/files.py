"""Downloading a file a user shared (its ``url_private``) for an image prompt.

Slack serves ``url_private`` only to a token with ``files:read``, sent as
``Authorization: Bearer``. So the token goes only to Slack's own file host
(``files.slack.com``, and the host of ``SLACK_API_BASE`` when one is configured: a proxy,
a test server): any other URL is refused before a request is made, a redirect is followed
only while it stays on those hosts, and no more than ``max_bytes`` is ever read (the
declared size, then ``Content-Length``, then the bytes as they arrive). Every refusal is
a :class:`~bot.chat.DeliveryError` worded for the person who attached the file; neither
the token nor the full URL is logged."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Final
from urllib.parse import urljoin, urlsplit

import aiohttp

from bot.chat import Attachment, DeliveryError

from .settings import DEFAULT_API_BASE

log = logging.getLogger(__name__)

FILE_HOST: Final = "files.slack.com"
MAX_REDIRECTS: Final = 3
REDIRECTS: Final = frozenset({301, 302, 303, 307, 308})
CHUNK: Final = 64 * 1024
DEFAULT_TIMEOUT: Final = 30.0
DEFAULT_PORTS: Final = {"http": 80, "https": 443}
MANIFEST: Final = "docs/slack-app-manifest.yaml"


@dataclass(frozen=True, slots=True)
class Origin:
    scheme: str
    host: str
    port: int


def origin_of(url: str) -> Origin | None:
    """Scheme, host and port of ``url``; None for anything unusable (no host, user info)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname or parts.username or parts.password:
        return None
    return Origin(scheme, parts.hostname, port or DEFAULT_PORTS[scheme])


def allowed_origins(api_base: str) -> frozenset[Origin]:
    """Slack's file host, and the API base's host when it is not Slack's default."""
    origins = {Origin("https", FILE_HOST, 443)}
    if api_base != DEFAULT_API_BASE and (configured := origin_of(api_base)) is not None:
        origins.add(configured)
    return frozenset(origins)


class SlackFiles:
    """Fetches ``url_private`` with the bot token over the adapter's HTTP session."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        token: str,
        api_base: str,
        *,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        self._session = session
        self._token = token
        self._origins = allowed_origins(api_base)
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    def __repr__(self) -> str:  # never the token
        hosts = ", ".join(sorted(o.host for o in self._origins))
        return f"SlackFiles(hosts=[{hosts}])"

    def allowed(self, url: str) -> bool:
        return origin_of(url) in self._origins

    async def fetch(self, attachment: Attachment, max_bytes: int) -> bytes:
        if attachment.size is not None and attachment.size > max_bytes:
            raise _too_large(max_bytes, attachment.size)
        url = attachment.url
        if not self.allowed(url):
            raise DeliveryError(
                f"I only download images from Slack's own file host, and this one is on "
                f"{_host(url)}. Upload the image to Slack and try again.",
                permanent=True,
            )
        for _ in range(MAX_REDIRECTS + 1):
            try:
                async with self._session.get(
                    url,
                    headers={"Authorization": f"Bearer {self._token}"},
                    allow_redirects=False,
                    timeout=self._timeout,
                ) as response:
                    if response.status in REDIRECTS:
                        url = self._redirect(url, response.headers.get("Location"))
                        continue
                    _check(response.status, response.content_type)
                    if response.content_length is not None and (
                        response.content_length > max_bytes
                    ):
                        raise _too_large(max_bytes, response.content_length)
                    data = bytearray()
                    async for chunk in response.content.iter_chunked(CHUNK):
                        data += chunk
                        if len(data) > max_bytes:
                            raise _too_large(max_bytes, None)
                    return bytes(data)
            except (TimeoutError, aiohttp.ClientError) as exc:
                log.info("download from %s failed: %s", _host(url), type(exc).__name__)
                raise DeliveryError(
                    f"I couldn't download it from Slack ({type(exc).__name__}); "
                    "please try again in a minute.",
                    permanent=False,
                ) from None
        raise DeliveryError(
            "Slack kept redirecting the download; please try again later.", permanent=False
        )

    def _redirect(self, url: str, location: str | None) -> str:
        if not location:
            raise DeliveryError("Slack answered the download without the file.", permanent=False)
        target = urljoin(url, location)
        if not self.allowed(target):
            log.warning("a file download was redirected off Slack (to %s); refused", _host(target))
            raise DeliveryError(
                f"Slack sent the download elsewhere ({_host(target)}), and I only fetch "
                "files from Slack itself.",
                permanent=True,
            )
        return target


def _check(status: int, content_type: str) -> None:
    """Refuse what is not the file: Slack answers a token it won't serve with its
    sign-in page (a 200 in HTML), a deleted file with a 404."""
    if status in (401, 403) or (status == 200 and content_type == "text/html"):
        raise DeliveryError(
            "Slack wouldn't give me the file. The app needs the files:read permission "
            f"(an admin can reinstall it from {MANIFEST}), and I can only see files "
            "shared in channels I'm in.",
            permanent=True,
        )
    if status in (404, 410):
        raise DeliveryError("the file is gone from Slack (was it deleted?).", permanent=True)
    if status == 429 or status >= 500:
        raise DeliveryError(
            f"Slack's file service is busy (HTTP {status}); please try again in a minute.",
            permanent=False,
        )
    if status != 200:
        raise DeliveryError(f"Slack refused the download (HTTP {status}).", permanent=True)


def _too_large(limit: int, size: int | None) -> DeliveryError:
    actual = f" ({_megabytes(size)})" if size is not None else ""
    return DeliveryError(
        f"the image is too large{actual}; the limit is {_megabytes(limit)}.", permanent=True
    )


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):.1f} MB"


def _host(url: str) -> str:
    try:
        return urlsplit(url).hostname or "an unknown host"
    except ValueError:
        return "an unknown host"
