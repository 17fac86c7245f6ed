"""Property tests of what the bot reads from the service over HTTP: status JSON, submission
and project answers (served by a real loopback server), ``Retry-After`` headers, result
URLs and image bytes. Every input becomes a valid value or a typed ``BackendError``."""

from __future__ import annotations

import io
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.backend.backoff import parse_retry_after
from bot.backend.errors import BackendError, DownloadRefused
from bot.backend.fetch import checked_url, origin_of
from bot.backend.superduper import SuperDuperClient, SuperDuperSettings, make_http_client
from bot.backend.superduper.files import FileStatus
from bot.backend.superduper.payloads import generation_payload
from bot.backend.types import GenerationRequest
from bot.media.images import inspect_image

SHARED = [HealthCheck.function_scoped_fixture]
JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)
STATUS_CODES = st.sampled_from([200, 200, 200, 201, 204, 302, 400, 401, 404, 409, 422, 429, 502])


@st.composite
def file_like(draw: st.DrawFn) -> dict[str, Any]:
    """A status answer with each known field present or not, well-typed or not."""
    fields = {
        "id": st.text(max_size=40) | JSON_VALUES,
        "status": st.sampled_from([s.value for s in FileStatus] + ["queued", ""]) | JSON_VALUES,
        "project_id": JSON_VALUES,
        "progress": st.integers(-1000, 1000) | JSON_VALUES,
        "url": st.just("http://127.0.0.1/media/x.png") | JSON_VALUES,
        "error": JSON_VALUES,
        "content_type": JSON_VALUES,
        "width": st.integers() | JSON_VALUES,
        "height": st.integers() | JSON_VALUES,
    }
    return {
        name: draw(strategy)
        for name, strategy in fields.items()
        if draw(st.booleans()) or name in ("id", "status")
    }


BODIES = (
    file_like().map(json.dumps)
    | st.fixed_dictionaries({"files": st.lists(file_like(), max_size=3) | JSON_VALUES}).map(
        json.dumps
    )
    | JSON_VALUES.map(json.dumps)
    | st.text(max_size=100)
)


@dataclass
class Answer:
    status: int = 200
    body: str = "{}"


@dataclass
class FuzzService:
    client: SuperDuperClient
    answer: Answer


@pytest.fixture
async def service() -> AsyncIterator[FuzzService]:
    answer = Answer()

    async def reply(request: web.Request) -> web.Response:
        return web.Response(status=answer.status, text=answer.body, content_type="application/json")

    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", reply)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    settings_ = SuperDuperSettings(
        base_url=f"http://127.0.0.1:{port}", token="fuzz-token", retry_attempts=1
    )
    try:
        async with make_http_client(settings_) as http:
            yield FuzzService(SuperDuperClient(settings_, http), answer)
    finally:
        await runner.cleanup()


@settings(max_examples=200, deadline=None, suppress_health_check=SHARED)
@given(status=STATUS_CODES, body=BODIES)
async def test_any_status_answer_is_a_file_state_or_a_backend_error(
    service: FuzzService, status: int, body: str
) -> None:
    service.answer.status, service.answer.body = status, body
    try:
        state = await service.client.file_status("f-1")
    except BackendError:
        return
    assert 200 <= status < 300
    assert isinstance(state.id, str) and state.id
    assert isinstance(state.status, FileStatus)
    assert 0 <= state.progress <= 100
    for text in (state.url, state.error, state.project_id, state.content_type):
        assert text is None or isinstance(text, str)
    for number in (state.width, state.height):
        assert number is None or isinstance(number, int)


@settings(max_examples=150, deadline=None, suppress_health_check=SHARED)
@given(status=STATUS_CODES, body=BODIES)
async def test_any_submission_or_project_answer_is_a_value_or_a_backend_error(
    service: FuzzService, status: int, body: str
) -> None:
    service.answer.status, service.answer.body = status, body
    request = GenerationRequest(prompt="p", seed=1)
    try:
        files = await service.client.submit(
            generation_payload(request, None), idempotency_key="fuzz"
        )
    except BackendError:
        pass
    else:
        assert files and all(isinstance(f.id, str) and f.id for f in files)
        assert all(isinstance(f.status, FileStatus) for f in files)
    try:
        project = await service.client.create_project(title="t", idempotency_key="k")
    except BackendError:
        pass
    else:
        assert isinstance(project, str) and project


@given(value=st.text(max_size=60) | st.from_regex(r"-?\d{1,20}(\.\d{1,5})?", fullmatch=True))
def test_any_retry_after_is_none_or_a_wait_within_the_cap(value: str) -> None:
    wait = parse_retry_after(value, now=1_750_000_000.0, cap=60.0)
    assert wait is None or 0.0 <= wait <= 60.0


BASE = httpx.URL("http://127.0.0.1:8765/")
URLS = st.text(max_size=80) | st.builds(
    "{}://{}{}/{}".format,
    st.sampled_from(["http", "https", "file", "ftp", "javascript", "", "HTTP"]),
    st.sampled_from(["127.0.0.1", "169.254.169.254", "localhost", "user:pw@127.0.0.1", ""]),
    st.sampled_from(["", ":8765", ":80", ":0", ":99999", ":x"]),
    st.text(max_size=20),
)


@given(raw=URLS)
def test_any_result_url_is_on_the_service_origin_or_refused(raw: str) -> None:
    origin = origin_of(BASE)
    try:
        url = checked_url(raw, base=BASE, origin=origin)
    except DownloadRefused:
        return
    assert origin_of(url) == origin and not url.userinfo


def png(width: int, height: int) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), "teal").save(buffer, format="PNG")
    return buffer.getvalue()


SAMPLE = png(16, 12)


@st.composite
def mutated_png(draw: st.DrawFn) -> bytes:
    data = bytearray(SAMPLE)
    for _ in range(draw(st.integers(1, 6))):
        index = draw(st.integers(0, len(data) - 1))
        data[index] = draw(st.integers(0, 255))
    return bytes(data[: draw(st.integers(0, len(data)))])


@settings(max_examples=150, deadline=None)
@given(
    data=st.binary(max_size=300) | mutated_png(),
    declared=st.sampled_from(["", "image/png", "image/jpeg", "application/octet-stream"]),
)
async def test_any_image_bytes_are_a_checked_image_or_refused(data: bytes, declared: str) -> None:
    try:
        image = await inspect_image(data, declared_type=declared, max_pixels=10_000)
    except DownloadRefused:
        return
    assert image.format in ("PNG", "JPEG", "WEBP")
    assert image.width * image.height <= 10_000 and image.data == data
