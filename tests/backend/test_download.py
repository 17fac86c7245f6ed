"""Downloading result images: same origin only, size, type and pixel checks."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator

import httpx
import pytest

from bot.backend.errors import DownloadRefused
from bot.backend.superduper import SuperDuperSettings
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.superduper.download import download_image
from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import (
    MEDIA_ROUTE,
    TOKEN,
    RecordingSleep,
    jpeg_bytes,
    png_bytes,
    png_claiming,
    request,
)


async def completed_url(backend: FileApi) -> str:
    [file] = await backend.submit(request(), project_id=None)
    result = await backend.wait(file.id, None, timeout=5)
    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    return result.file.url


async def test_the_bytes_are_the_services_image(emu: Emulator, backend: FileApi) -> None:
    served = png_bytes(320, 200)
    emu.config.image_override = served
    url = await completed_url(backend)

    image = await backend.download(url)

    assert image.data == served
    assert (image.format, image.content_type, image.width, image.height) == (
        "PNG",
        "image/png",
        320,
        200,
    )


async def test_a_jpeg_declared_as_jpeg_is_accepted(emu: Emulator, backend: FileApi) -> None:
    emu.config.image_override = jpeg_bytes(64, 48)
    emu.config.image_content_type = "image/jpeg"

    image = await backend.download(await completed_url(backend))

    assert (image.format, image.content_type) == ("JPEG", "image/jpeg")


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com/media/x.png",
        "https://{host}:{port}/media/x.png",
        "http://{host}:1/media/x.png",
        "file:///etc/passwd",
        "ftp://{host}:{port}/media/x.png",
        "http://user:pw@{host}:{port}/media/x.png",
    ],
)
async def test_urls_off_the_service_origin_are_refused_without_a_request(
    emu: Emulator, backend: FileApi, url: str
) -> None:
    with pytest.raises(DownloadRefused):
        await backend.download(url.format(host="127.0.0.1", port=emu.port))
    assert emu.counters.requests[MEDIA_ROUTE] == 0


async def test_a_result_url_on_another_host_name_is_refused(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.result_url_base = f"http://localhost:{emu.port}"  # same server, other origin
    url = await completed_url(backend)

    with pytest.raises(DownloadRefused, match="another host"):
        await backend.download(url)
    assert emu.counters.requests[MEDIA_ROUTE] == 0


async def test_a_relative_result_url_resolves_against_the_service(
    emu: Emulator, backend: FileApi
) -> None:
    url = await completed_url(backend)

    image = await backend.download(httpx.URL(url).path)

    assert image.format == "PNG"


async def test_a_redirect_off_the_origin_is_refused(emu: Emulator, backend: FileApi) -> None:
    emu.config.redirect_media_to = "http://169.254.169.254/latest/meta-data"
    url = await completed_url(backend)

    with pytest.raises(DownloadRefused, match="another host"):
        await backend.download(url)
    assert emu.counters.requests[MEDIA_ROUTE] == 1


async def test_endless_same_origin_redirects_are_cut_off(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(max_redirects=2)
    url = await completed_url(backend)
    emu.config.redirect_media_to = url  # redirects to itself

    with pytest.raises(DownloadRefused, match="redirect"):
        await backend.download(url)
    assert emu.counters.requests[MEDIA_ROUTE] == 3


async def test_an_oversized_body_is_refused(emu: Emulator, make_backend: MakeBackend) -> None:
    backend = await make_backend(max_download_bytes=10_000)
    emu.config.image_override = png_bytes(600, 600, "white") + b"\0" * 20_000

    with pytest.raises(DownloadRefused, match="limit"):
        await backend.download(await completed_url(backend))


async def test_a_pixel_bomb_is_refused(emu: Emulator, backend: FileApi) -> None:
    emu.config.image_override = png_claiming(100_000, 100_000)  # 10 GP in a few bytes

    with pytest.raises(DownloadRefused, match="bomb"):
        await backend.download(await completed_url(backend))


async def test_an_image_in_pillows_warning_band_is_refused_without_a_warning(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.image_override = png_claiming(10_000, 10_000)  # 100 MP: Pillow only warns

    with pytest.raises(DownloadRefused, match="bomb"):
        await backend.download(await completed_url(backend))


async def test_an_image_over_the_pixel_cap_is_refused(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(max_pixels=10_000)
    emu.config.image_override = png_bytes(200, 200)

    with pytest.raises(DownloadRefused, match="pixel"):
        await backend.download(await completed_url(backend))


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b"<html>login</html>", "text/html"),
        (png_bytes(8, 8), "image/svg+xml"),
        (jpeg_bytes(8, 8), "image/png"),  # declared PNG, is JPEG
        (b"GIF89a\x01\x00\x01\x00\x00\x00\x00;", "application/octet-stream"),
    ],
)
async def test_wrong_content_is_refused(
    emu: Emulator, backend: FileApi, body: bytes, content_type: str
) -> None:
    emu.config.image_override = body
    emu.config.image_content_type = content_type

    with pytest.raises(DownloadRefused):
        await backend.download(await completed_url(backend))


async def test_a_truncated_image_is_refused(emu: Emulator, backend: FileApi) -> None:
    emu.config.image_override = png_bytes(300, 300, "purple")[:-40]

    with pytest.raises(DownloadRefused):
        await backend.download(await completed_url(backend))


def mock_client(handler: httpx.MockTransport, *, max_bytes: int = 1_000_000) -> SuperDuperClient:
    settings = SuperDuperSettings(
        base_url="http://service.test", token=TOKEN, max_download_bytes=max_bytes
    )
    return SuperDuperClient(
        settings, httpx.AsyncClient(transport=handler), rng=random.Random(1), sleep=RecordingSleep()
    )


async def test_a_same_origin_redirect_is_followed_with_the_token() -> None:
    served = png_bytes(16, 16)
    seen: list[tuple[str, str | None]] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append((req.url.path, req.headers.get("Authorization")))
        if req.url.path == "/media/a.png":
            return httpx.Response(302, headers={"Location": "/cdn/a.png"})
        return httpx.Response(200, content=served, headers={"Content-Type": "image/png"})

    image = await download_image(mock_client(httpx.MockTransport(handler)), "/media/a.png")

    assert image.data == served
    assert seen == [("/media/a.png", f"Bearer {TOKEN}"), ("/cdn/a.png", f"Bearer {TOKEN}")]


async def test_a_body_without_content_length_is_counted_and_cut_off() -> None:
    class Chunks(httpx.AsyncByteStream):
        def __init__(self) -> None:
            self.sent = 0

        async def __aiter__(self) -> AsyncIterator[bytes]:
            while self.sent < 1_000_000:
                self.sent += 4096
                yield b"\0" * 4096

    stream = Chunks()

    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(200, stream=stream, headers={"Content-Type": "image/png"})

    client = mock_client(httpx.MockTransport(handler), max_bytes=20_000)
    with pytest.raises(DownloadRefused, match="limit"):
        await download_image(client, "/media/big.png")
    assert stream.sent < 40_000
