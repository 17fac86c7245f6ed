"""The aiohttp-backed httpx transport: what the client relies on, over real loopback sockets."""

from __future__ import annotations

import asyncio
import gzip
import socket
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
from aiohttp import web

from bot.backend.transport import AiohttpTransport

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


async def serve(handler: Handler) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", handler)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        transport=AiohttpTransport(), timeout=httpx.Timeout(2.0, connect=1.0)
    ) as http:
        yield http


async def test_requests_and_responses_round_trip(client: httpx.AsyncClient) -> None:
    async def echo(request: web.Request) -> web.Response:
        body = await request.read()
        response = web.Response(status=201, body=body[::-1])
        response.headers.add("X-Seen-Auth", request.headers.get("Authorization", ""))
        response.headers.add("Set-Thing", "a")
        response.headers.add("Set-Thing", "b")
        return response

    runner, base = await serve(echo)
    try:
        reply = await client.post(
            f"{base}/x?q=1", content=b"abc", headers={"Authorization": "Bearer t"}
        )
        assert reply.status_code == 201
        assert reply.content == b"cba"
        assert reply.headers["X-Seen-Auth"] == "Bearer t"
        assert reply.headers.get_list("Set-Thing") == ["a", "b"]
    finally:
        await runner.cleanup()


async def test_a_large_body_streams_in_chunks_and_gzip_is_decoded(
    client: httpx.AsyncClient,
) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB

    async def big(request: web.Request) -> web.Response:
        if request.path == "/gz":
            return web.Response(body=gzip.compress(b"hello"), headers={"Content-Encoding": "gzip"})
        return web.Response(body=payload)

    runner, base = await serve(big)
    try:
        async with client.stream("GET", f"{base}/big") as response:
            chunks = [chunk async for chunk in response.aiter_raw()]
        assert b"".join(chunks) == payload and len(chunks) > 1
        assert (await client.get(f"{base}/gz")).content == b"hello"
    finally:
        await runner.cleanup()


async def test_redirects_are_returned_not_followed(client: httpx.AsyncClient) -> None:
    async def redirect(request: web.Request) -> web.Response:
        return web.Response(status=302, headers={"Location": "http://169.254.169.254/"})

    runner, base = await serve(redirect)
    try:
        reply = await client.get(f"{base}/r")
        assert reply.status_code == 302
        assert reply.headers["Location"] == "http://169.254.169.254/"
    finally:
        await runner.cleanup()


async def test_a_refused_connection_is_a_connect_error(client: httpx.AsyncClient) -> None:
    with socket.socket() as sock:  # a port that was free a moment ago: nobody listens
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(httpx.ConnectError):
        await client.get(f"http://127.0.0.1:{port}/")


async def test_a_silent_server_is_a_read_timeout() -> None:
    done = asyncio.Event()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)  # accept the request, answer nothing until the test ends
        await done.wait()
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with httpx.AsyncClient(
            transport=AiohttpTransport(), timeout=httpx.Timeout(0.2)
        ) as http:
            with pytest.raises(httpx.ReadTimeout):
                await http.get(f"http://127.0.0.1:{port}/")
    finally:
        done.set()
        server.close()
        await server.wait_closed()


async def test_a_connection_cut_mid_body_is_a_read_error(client: httpx.AsyncClient) -> None:
    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"x" * 10)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        with pytest.raises(httpx.ReadError):
            await client.get(f"http://127.0.0.1:{port}/")
    finally:
        server.close()
        await server.wait_closed()


async def test_the_proxy_from_the_environment_is_used_unless_the_host_is_excluded(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    seen: list[str] = []

    async def proxy(request: web.Request) -> web.Response:
        seen.append(str(request.url))  # a proxy receives the absolute URL
        return web.Response(text="via proxy")

    async def direct(request: web.Request) -> web.Response:
        return web.Response(text="direct")

    proxy_runner, proxy_base = await serve(proxy)
    direct_runner, direct_base = await serve(direct)
    monkeypatch.setenv("HTTP_PROXY", proxy_base)
    monkeypatch.setenv("NO_PROXY", "localhost")
    try:
        async with httpx.AsyncClient(transport=AiohttpTransport(), timeout=2.0) as http:
            proxied = await http.get("http://service.invalid/api/files/1")
            bypassed = await http.get(direct_base.replace("127.0.0.1", "localhost") + "/x")
        assert proxied.text == "via proxy"
        assert seen == ["http://service.invalid/api/files/1"]
        assert bypassed.text == "direct"
    finally:
        await proxy_runner.cleanup()
        await direct_runner.cleanup()
