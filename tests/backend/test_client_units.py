"""Client policy that the emulator cannot provoke, over ``httpx.MockTransport``."""

from __future__ import annotations

import random

import httpx
import pytest

from bot.backend.backoff import parse_retry_after
from bot.backend.errors import BackendUnavailable
from bot.backend.superduper import SuperDuperSettings, ws_url_for
from bot.backend.superduper.client import SuperDuperClient
from bot.backend.superduper.errors import ProjectNotFound
from bot.backend.superduper.payloads import generation_payload

from .helpers import TOKEN, RecordingSleep, request

BASE = "http://service.test:8000"


def client_with(handler: httpx.MockTransport, sleep: RecordingSleep) -> SuperDuperClient:
    settings = SuperDuperSettings(base_url=BASE, token=TOKEN, retry_attempts=4)
    http = httpx.AsyncClient(transport=handler)
    return SuperDuperClient(settings, http, rng=random.Random(1), sleep=sleep)


async def test_a_500_on_generation_is_not_retried_to_avoid_a_double_submission() -> None:
    seen: list[str] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req.url.path)
        return httpx.Response(500, json={"detail": "Internal Server Error"})

    sleep = RecordingSleep()
    client = client_with(httpx.MockTransport(handler), sleep)

    with pytest.raises(BackendUnavailable) as caught:
        await client.submit(generation_payload(request(), None), idempotency_key="k1")
    assert seen == ["/api/generation/image"]
    assert sleep.delays == []
    assert "may have started" in str(caught.value)


async def test_a_read_timeout_on_generation_is_not_retried() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=req)

    client = client_with(httpx.MockTransport(handler), RecordingSleep())

    with pytest.raises(BackendUnavailable):
        await client.submit(generation_payload(request(), None), idempotency_key="k1")
    assert calls == 1


async def test_a_connect_error_on_generation_is_retried() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls < 3:
            raise httpx.ConnectError("refused", request=req)
        return httpx.Response(200, json={"files": [{"id": "f1", "status": "pending"}]})

    sleep = RecordingSleep()
    client = client_with(httpx.MockTransport(handler), sleep)

    [file] = await client.submit(generation_payload(request(), None), idempotency_key="k1")
    assert file.id == "f1"
    assert calls == 3 and len(sleep.delays) == 2


async def test_a_read_timeout_on_a_status_request_is_retried() -> None:
    calls = 0

    def handler(req: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ReadTimeout("slow", request=req)
        return httpx.Response(200, json={"id": "f1", "status": "processing", "progress": 50})

    client = client_with(httpx.MockTransport(handler), RecordingSleep())

    state = await client.file_status("f1")
    assert (state.id, state.progress, calls) == ("f1", 50, 2)


async def test_the_foreign_key_500_means_project_not_found() -> None:
    def handler(req: httpx.Request) -> httpx.Response:
        return httpx.Response(500, text="ForeignKeyViolationError: ... files_project_id_fkey")

    client = client_with(httpx.MockTransport(handler), RecordingSleep())

    with pytest.raises(ProjectNotFound):
        await client.submit(generation_payload(request(), "p-gone"), idempotency_key="k1")


async def test_the_token_travels_only_in_the_authorization_header() -> None:
    seen: list[httpx.Request] = []

    def handler(req: httpx.Request) -> httpx.Response:
        seen.append(req)
        return httpx.Response(200, json={"id": "f/1", "status": "completed"})

    client = client_with(httpx.MockTransport(handler), RecordingSleep())
    await client.file_status("f/1")

    [req] = seen
    assert req.headers["Authorization"] == f"Bearer {TOKEN}"
    assert TOKEN not in str(req.url)
    assert req.url.raw_path == b"/api/files/f%2F1"


def test_settings_hide_the_token_and_derive_the_websocket_url() -> None:
    plain = SuperDuperSettings(base_url="http://h:8000", token=TOKEN)
    secure = SuperDuperSettings(base_url="https://api.example.com/sd/", token=TOKEN)
    explicit = SuperDuperSettings(base_url="https://a", token=TOKEN, ws_url="wss://b/socket")

    assert TOKEN not in repr(plain)
    assert ws_url_for(plain) == "ws://h:8000/ws"
    assert ws_url_for(secure) == "wss://api.example.com/sd/ws"
    assert ws_url_for(explicit) == "wss://b/socket"
    with pytest.raises(ValueError):
        SuperDuperSettings(base_url="ftp://h", token=TOKEN)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("0", 0.0),
        ("12", 12.0),
        ("-1", 0.0),
        ("99999", 60.0),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),
        ("Wed, 21 Oct 2015 07:27:00 GMT", 0.0),
        ("soon", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, expected: float | None) -> None:
    now = 1445412480.0  # Wed, 21 Oct 2015 07:28:00 GMT
    assert parse_retry_after(header, now=now, cap=60.0) == expected
