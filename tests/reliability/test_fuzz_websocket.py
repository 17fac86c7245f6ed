"""Property test: arbitrary WebSocket messages from the service never raise out of the
watcher, never cost the connection, never end a wait (only HTTP does), and never make
progress go backwards or leave 0..100.

One watcher stays connected to a scripted loopback server for the whole run; each
example is sent over that real socket, followed by a sentinel the watcher acknowledges
publicly (``subscription_acknowledged``), so the example was handled before the checks."""

from __future__ import annotations

import asyncio
import itertools
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.backend.superduper import SuperDuperBackend, make_http_client
from bot.backend.superduper.files import WaitOutcome, WaitResult
from bot.backend.types import GenerationRequest
from emulator.superduper import Emulator
from tests.support.harness import fast_service
from tests.support.superduper import FileApi
from tests.support.waiting import until
from tests.support.ws_server import ScriptedSocketServer

EVENT_TYPES = ["generation.progress", "generation.completed", "generation.failed", "subscribed"]


@dataclass
class Watched:
    backend: FileApi
    socket: ScriptedSocketServer
    emulator: Emulator
    file_id: str
    project_id: str
    waiting: asyncio.Task[WaitResult]
    progress: list[int] = field(default_factory=list)
    sentinels: itertools.count[int] = field(default_factory=itertools.count)


@pytest.fixture
async def watched(emulator: Emulator) -> AsyncIterator[Watched]:
    emulator.config.manual_completion = True
    async with ScriptedSocketServer() as socket:
        service = fast_service(emulator, ws_url=socket.url, safety_net_poll=60.0)
        async with make_http_client(service) as http:
            backend = FileApi(SuperDuperBackend(service, http))
            await backend.backend.start()
            project_id = await backend.create_project(title="fuzz", idempotency_key="fuzz")
            [file] = await backend.submit(
                GenerationRequest(prompt="fuzz", seed=1, width=64, height=64),
                project_id=project_id,
            )
            progress: list[int] = []

            async def on_progress(percent: int) -> None:
                progress.append(percent)

            waiting = asyncio.create_task(
                backend.wait(file.id, project_id, timeout=120, on_progress=on_progress)
            )
            await socket.wait_for(lambda: bool(socket.received))  # subscribed
            yield Watched(backend, socket, emulator, file.id, project_id, waiting, progress)
            waiting.cancel()
            await asyncio.gather(waiting, return_exceptions=True)
            await backend.aclose()


JSON_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
    max_leaves=12,
)


@st.composite
def event_like(draw: st.DrawFn) -> dict[str, Any]:
    """Objects shaped like the service's events, with any field wrong in any way."""
    watched_ids = st.sampled_from(["<file>", "<project>"])
    event: dict[str, Any] = {
        "type": draw(st.sampled_from(EVENT_TYPES) | JSON_VALUES),
        "file_id": draw(watched_ids | JSON_VALUES),
        "project_id": draw(watched_ids | JSON_VALUES),
        "progress": draw(st.integers(-10, 200) | JSON_VALUES),
    }
    for key in draw(st.sets(st.sampled_from(["url", "error", "status", "extra"]))):
        event[key] = draw(JSON_VALUES)
    for key in draw(st.sets(st.sampled_from(list(event)))):
        del event[key]
    return event


MESSAGES = (
    event_like().map(lambda e: ("event", e))
    | JSON_VALUES.map(lambda v: ("json", v))
    | st.text(max_size=200).map(lambda t: ("text", t))
    | st.binary(max_size=200).map(lambda b: ("bytes", b))
)


def wire(kind: str, value: Any, w: Watched) -> str | bytes:
    if kind == "text" or kind == "bytes":
        assert isinstance(value, str | bytes)
        return value
    text = json.dumps(value)
    return text.replace('"<file>"', json.dumps(w.file_id)).replace(
        '"<project>"', json.dumps(w.project_id)
    )


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(message=MESSAGES)
async def test_any_message_from_the_service_is_handled_or_ignored(
    watched: Watched, caplog: pytest.LogCaptureFixture, message: tuple[str, Any]
) -> None:
    caplog.set_level(logging.WARNING, logger="bot.backend")
    w = watched
    await w.socket.send(wire(*message, w))
    sentinel = f"sentinel-{next(w.sentinels)}"
    await w.socket.send(json.dumps({"type": "subscribed", "project_id": sentinel}))
    await until(lambda: w.backend.watcher.subscription_acknowledged(sentinel))
    await asyncio.sleep(0)  # let a progress callback that was just woken run

    assert w.socket.connections == 1
    assert not w.waiting.done()  # only an HTTP answer can end the wait
    assert w.progress == sorted(set(w.progress))
    assert all(0 <= p <= 100 for p in w.progress)
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == [], errors[0].getMessage()


async def test_after_the_fuzzing_the_wait_still_ends_by_http(watched: Watched) -> None:
    w = watched
    await w.socket.send(b"\xff")
    await w.socket.send(json.dumps({"type": "generation.completed", "file_id": w.file_id}))
    await w.emulator.finish(w.file_id)
    await w.socket.send(
        json.dumps(
            {"type": "generation.completed", "file_id": w.file_id, "project_id": w.project_id}
        )
    )
    result = await asyncio.wait_for(w.waiting, 10)
    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    assert result.file.url.startswith(w.emulator.base_url)
    assert w.socket.connections == 1
