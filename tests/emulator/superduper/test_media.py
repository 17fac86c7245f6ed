"""``GET /media/{id}.png``: deterministic PNGs at the requested size, and the media knobs."""

from __future__ import annotations

import io
import warnings
from typing import Any

import httpx
from PIL import Image

from emulator.superduper import Emulator

from .helpers import StartEmulator, generate, http_client


async def _finished(emu: Emulator, http: httpx.AsyncClient, **fields: Any) -> list[str]:
    """Submit, complete every file now, and return their result URLs."""
    urls = []
    for file_id in await generate(http, **fields):
        await emu.finish(file_id)
        urls.append((await http.get(f"/api/files/{file_id}")).json()["url"])
    return urls


def _decode(data: bytes) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        image = Image.open(io.BytesIO(data), formats=["PNG"])
        image.load()
    return image


async def test_png_decodes_at_the_requested_size(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    [url] = await _finished(manual_emu, manual_http, width=320, height=200)

    response = await manual_http.get(url)

    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    image = _decode(response.content)
    assert (image.format, image.size) == ("PNG", (320, 200))


async def test_same_prompt_and_seed_give_identical_bytes_others_differ(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    [first] = await _finished(manual_emu, manual_http, prompt="red fox", seed=11)
    [again] = await _finished(manual_emu, manual_http, prompt="red fox", seed=11)
    [other_prompt] = await _finished(manual_emu, manual_http, prompt="blue whale", seed=11)
    [other_seed] = await _finished(manual_emu, manual_http, prompt="red fox", seed=12)
    batch = await _finished(manual_emu, manual_http, prompt="red fox", seed=11, batch_size=2)

    bodies = [
        (await manual_http.get(url)).content
        for url in (first, again, other_prompt, other_seed, *batch)
    ]

    assert first != again
    assert bodies[0] == bodies[1]
    assert len({bodies[0], bodies[2], bodies[3]}) == 3
    assert bodies[4] == bodies[0]  # batch index 0 is the same picture
    assert bodies[5] != bodies[4]
    pixels = [_decode(body).convert("RGB").getpixel((64, 48)) for body in bodies[:3]]
    assert pixels[0] != pixels[2]


async def test_media_is_404_until_completed_and_for_failed_or_unknown(
    manual_emu: Emulator, manual_http: httpx.AsyncClient
) -> None:
    ok, bad = await generate(manual_http, batch_size=2)

    assert (await manual_http.get(f"/media/{ok}.png")).status_code == 404
    await manual_emu.finish(bad, error="boom")
    assert (await manual_http.get(f"/media/{bad}.png")).status_code == 404
    assert (await manual_http.get("/media/not-a-file.png")).status_code == 404
    await manual_emu.finish(ok)
    assert (await manual_http.get(f"/media/{ok}")).status_code == 404
    assert (await manual_http.get(f"/media/{ok}.png")).status_code == 200


async def test_image_override_and_content_type_are_served_as_given(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(
        manual_completion=True, image_override=b"<html>nope</html>", image_content_type="text/html"
    )
    async with http_client(emu) as http:
        [file_id] = await generate(http)
        await emu.finish(file_id)
        status = (await http.get(f"/api/files/{file_id}")).json()
        response = await http.get(status["url"])
    assert response.content == b"<html>nope</html>"
    assert response.headers["Content-Type"] == "text/html"
    assert status["content_type"] == "text/html"


async def test_redirect_and_foreign_result_urls(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(
        manual_completion=True,
        redirect_media_to="http://169.254.169.254/latest/meta-data/",
        result_url_base="http://cdn.example.test/",
    )
    async with http_client(emu) as http:
        [file_id] = await generate(http)
        await emu.finish(file_id)
        url = (await http.get(f"/api/files/{file_id}")).json()["url"]
        response = await http.get(f"/media/{file_id}.png")

    assert url == f"http://cdn.example.test/media/{file_id}.png"
    assert response.status_code == 302
    assert response.headers["Location"] == "http://169.254.169.254/latest/meta-data/"
