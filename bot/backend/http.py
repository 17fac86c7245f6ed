"""The process's one HTTP client, shared by every backend."""

from __future__ import annotations

import httpx

from bot.backend.transport import AiohttpTransport


def shared_http_client(
    *, request_timeout: float = 30.0, connect_timeout: float = 10.0
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with timeouts set, redirects not followed, and connections
    handled by aiohttp (see ``transport.py`` for why).

    No auth header is set here: the client is shared, and each backend adds its own
    credentials to its own requests only."""
    return httpx.AsyncClient(
        timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
        transport=AiohttpTransport(),
        follow_redirects=False,
        headers={"User-Agent": "imagine-bot"},
    )
