"""The process's one HTTP client, shared by every backend."""

from __future__ import annotations

from typing import Any

import httpx

from bot.backend.transport import AiohttpTransport


class LeanAsyncClient(httpx.AsyncClient):
    """An ``httpx.AsyncClient`` whose ``send`` goes straight to its transport: no auth
    flow (each backend sets its own header), no redirects (followed by hand, origin-checked,
    in ``fetch.py``), no cookie jar (no backend uses cookies) and no per-request log line
    (httpx's prints full URLs at INFO). In the benchmark those layers cost more than half of
    a status request's CPU: extracting cookies alone rebuilds every response's headers as
    an ``email.message.Message``. Asking for auth or redirects takes httpx's full path."""

    def __init__(self, *, transport: httpx.AsyncBaseTransport, **kwargs: Any) -> None:
        super().__init__(transport=transport, **kwargs)
        self._direct = transport

    async def send(
        self,
        request: httpx.Request,
        *,
        stream: bool = False,
        auth: Any = httpx.USE_CLIENT_DEFAULT,
        follow_redirects: Any = httpx.USE_CLIENT_DEFAULT,
    ) -> httpx.Response:
        default = httpx.USE_CLIENT_DEFAULT
        if auth is not default or (follow_redirects is not default and follow_redirects):
            return await super().send(
                request, stream=stream, auth=auth, follow_redirects=follow_redirects
            )
        if self.is_closed:
            raise RuntimeError("Cannot send a request, as the client has been closed.")
        response = await self._direct.handle_async_request(request)
        response.request = request
        if not stream:
            try:
                await response.aread()
            except BaseException:
                await response.aclose()
                raise
        return response


def shared_http_client(
    *,
    request_timeout: float = 30.0,
    connect_timeout: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> httpx.AsyncClient:
    """An ``httpx.AsyncClient`` with timeouts set, redirects not followed, and connections
    handled by aiohttp (see ``transport.py`` for why), or by ``transport`` when given (the
    benchmark wraps the aiohttp one to count what is sent).

    No auth header is set here: the client is shared, and each backend adds its own
    credentials to its own requests only."""
    return LeanAsyncClient(
        timeout=httpx.Timeout(request_timeout, connect=connect_timeout),
        transport=transport if transport is not None else AiohttpTransport(),
        follow_redirects=False,
        headers={"User-Agent": "imagine-bot"},
    )
