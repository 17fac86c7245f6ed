"""An ``httpx`` transport over an ``aiohttp`` session: an experiment, not used by default.

Profiling the bot (docs/benchmarks.md) shows httpcore's connection pool costs ~1-2 ms of CPU
per request at 32 requests in flight. This transport keeps ``SuperDuperClient`` (and httpx's
request/response API) unchanged and only swaps the connection handling for aiohttp's, to
measure how much of the core's CPU per job that is (``python -m bench run --transport
aiohttp``)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import httpx


class _Body(httpx.AsyncByteStream):
    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for chunk in self._response.content.iter_chunked(64 * 1024):
                yield chunk
        except aiohttp.ClientPayloadError as exc:
            raise httpx.ReadError(str(exc)) from None

    async def aclose(self) -> None:
        self._response.release()


class AiohttpTransport(httpx.AsyncBaseTransport):
    """Sends httpx requests with one shared ``aiohttp.ClientSession`` (no redirects)."""

    def __init__(self, *, limit: int = 100) -> None:
        self._limit = limit
        self._session: aiohttp.ClientSession | None = None

    def _get_session(self) -> aiohttp.ClientSession:
        if self._session is None:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=self._limit),
                auto_decompress=False,
                skip_auto_headers=("User-Agent", "Accept-Encoding"),
            )
        return self._session

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        timeout = aiohttp.ClientTimeout(
            total=None, sock_connect=timeouts.get("connect"), sock_read=timeouts.get("read")
        )
        body = await request.aread()
        try:
            response = await self._get_session().request(
                request.method,
                str(request.url),
                headers=list(request.headers.multi_items()),
                data=body or None,
                allow_redirects=False,
                timeout=timeout,
            )
        except aiohttp.ClientConnectorError as exc:
            raise httpx.ConnectError(str(exc), request=request) from None
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc), request=request) from None
        except aiohttp.ClientError as exc:
            raise httpx.ReadError(str(exc), request=request) from None
        return httpx.Response(
            status_code=response.status,
            headers=list(response.raw_headers),
            stream=_Body(response),
            extensions={"http_version": b"HTTP/1.1"},
        )

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
