"""A plain ComfyUI client for scenarios: HTTP calls, WebSocket recorders, id normalisation.

Used alike against the emulator (CI), a real ComfyUI (the live conformance test) and by
``record.py`` (writing the fixtures). Knows nothing of the emulator's internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import struct
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

Message = dict[str, Any]
WAIT = float(os.environ.get("COMFY_PROBE_WAIT", "60"))
"""Seconds a scenario waits for one expected event (a real CPU server can be slow)."""


def text_message(data: str | bytes) -> Message:
    """A received frame as JSON: text as parsed, binary as its header fields."""
    if isinstance(data, str):
        parsed = json.loads(data)
        assert isinstance(parsed, dict)
        return parsed
    event = struct.unpack(">I", data[:4])[0]
    fmt = struct.unpack(">I", data[4:8])[0] if len(data) >= 8 else None
    return {"binary": event, "format": fmt, "magic": data[8:10].hex(), "size": len(data) - 8}


class WsRecorder:
    """Everything one socket receives, in order, with waits on what arrived."""

    def __init__(self, ws: ClientConnection, client_id: str) -> None:
        self.ws = ws
        self.client_id = client_id
        self.messages: list[Message] = []
        self.closed = asyncio.Event()
        self._changed = asyncio.Condition()
        self._task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for data in self.ws:
                async with self._changed:
                    self.messages.append(text_message(data))
                    self._changed.notify_all()
        except ConnectionClosed:
            pass
        finally:
            self.closed.set()
            async with self._changed:
                self._changed.notify_all()

    async def wait_for(
        self, predicate: Callable[[Message], bool], *, start: int = 0, timeout: float = WAIT
    ) -> int:
        """Index of the first message from ``start`` on that matches; waits for it."""
        async with asyncio.timeout(timeout), self._changed:
            while True:
                for index in range(start, len(self.messages)):
                    if predicate(self.messages[index]):
                        return index
                if self.closed.is_set():
                    raise AssertionError(f"socket closed; got {self.messages[start:]}")
                await self._changed.wait()

    async def wait_type(self, kind: str, *, start: int = 0, **data: Any) -> int:
        def match(message: Message) -> bool:
            body = message.get("data")
            return (
                message.get("type") == kind
                and isinstance(body, dict)
                and all(body.get(k) == v for k, v in data.items())
            )

        return await self.wait_for(match, start=start)

    async def job_done(self, prompt_id: str, *, start: int = 0) -> int:
        """Index of ``executing {node: null, prompt_id}`` (the last per-job message)."""
        return await self.wait_type("executing", start=start, node=None, prompt_id=prompt_id)

    async def stop(self) -> None:
        await self.ws.close()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task


@dataclass
class Probe:
    """One scenario's client: an HTTP client and the ids it chose (to normalise them)."""

    base_url: str
    http: httpx.AsyncClient
    headers: dict[str, str] = field(default_factory=dict)
    aliases: dict[str, str] = field(default_factory=dict)

    def new_id(self, alias: str) -> str:
        value = str(uuid.uuid4())
        self.aliases[value] = f"<{alias}>"
        return value

    @property
    def ws_base(self) -> str:
        return "ws" + self.base_url.removeprefix("http") + "/ws"

    @asynccontextmanager
    async def socket(self, alias: str, client_id: str | None = None) -> AsyncIterator[WsRecorder]:
        client_id = client_id or self.new_id(alias)
        async with connect(
            f"{self.ws_base}?clientId={client_id}",
            additional_headers=self.headers,
            proxy=None,
            max_size=2**24,
            open_timeout=10,
            close_timeout=2,
        ) as ws:
            recorder = WsRecorder(ws, client_id)
            await recorder.wait_type("status")
            try:
                yield recorder
            finally:
                await recorder.stop()

    async def post_prompt(
        self,
        prompt: dict[str, Any],
        *,
        client_id: str | None = None,
        prompt_id: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        body: dict[str, Any] = {"prompt": prompt, **extra}
        if client_id is not None:
            body["client_id"] = client_id
        if prompt_id is not None:
            body["prompt_id"] = prompt_id
        return await self.http.post("/prompt", json=body)

    async def json(self, method: str, path: str, **kwargs: Any) -> Any:
        response = await self.http.request(method, path, **kwargs)
        return {"status": response.status_code, "body": _body(response)}

    async def until_history(self, prompt_id: str, timeout: float = WAIT) -> dict[str, Any]:
        async with asyncio.timeout(timeout):
            while True:
                body = (await self.http.get(f"/history/{prompt_id}")).json()
                if body:
                    assert isinstance(body, dict)
                    return body
                await asyncio.sleep(0.05)

    async def until_queue(self, predicate: Callable[[Any], bool], timeout: float = WAIT) -> Any:
        async with asyncio.timeout(timeout):
            while True:
                body = (await self.http.get("/queue")).json()
                if predicate(body):
                    return body
                await asyncio.sleep(0.02)

    def normalise(self, value: Any) -> Any:
        return normalise(value, self.aliases)


def _body(response: httpx.Response) -> Any:
    if response.headers.get("content-type", "").startswith("application/json"):
        return response.json()
    return response.text


_FILENAME = re.compile(r"_(temp_[a-z]{5}_)?\d{5}_\.(png|mp4)(?=\"|$)")
_VOLATILE_KEYS = {"timestamp": "<ts>", "sid": "<sid>", "number": "<number>"}


def normalise(value: Any, aliases: dict[str, str]) -> Any:
    """Replace chosen ids by their aliases and volatile values (timestamps, sids, counters
    in file names) by placeholders, so two servers' answers compare equal."""
    if isinstance(value, dict):
        return {
            aliases.get(k, k): (_VOLATILE_KEYS[k] if k in _VOLATILE_KEYS else normalise(v, aliases))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return [normalise(v, aliases) for v in value]
    if isinstance(value, str):
        if value in aliases:
            return aliases[value]
        return _FILENAME.sub(
            lambda m: f"_{'<temp>_' if m.group(1) else ''}#####_.{m.group(2)}", value
        )
    return value


_TICKS = ("progress", "progress_state")


def collapse(messages: list[Message]) -> list[Message]:
    """Runs of equal progress ticks and previews once (their number varies per run)."""
    out: list[Message] = []
    for message in messages:
        tick = "binary" in message or message.get("type") in _TICKS
        if not (tick and out and out[-1] == message):
            out.append(message)
    return out


def ticks_as_shape(message: Message) -> Message:
    """Progress values and preview sizes replaced by placeholders (they vary per run)."""
    if "binary" in message:
        return {**message, "size": "<size>"}
    if message.get("type") == "progress":
        return {**message, "data": {**message["data"], "value": "<value>"}}
    if message.get("type") == "progress_state":
        nodes = {
            k: {**v, "value": "<value>"} if v.get("state") == "running" else v
            for k, v in message["data"]["nodes"].items()
        }
        return {**message, "data": {**message["data"], "nodes": nodes}}
    return message


def shape(value: Any) -> Any:
    """Keys and value types only (for answers whose values are the machine's own)."""
    if isinstance(value, dict):
        return {k: shape(v) for k, v in value.items()}
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


_SETS = ("executed", "current_outputs")


def canonical(value: Any) -> Any:
    """For comparing observations: lists the server builds from sets sorted, queue numbers
    (a server-wide counter) blanked in queue and history items."""
    if isinstance(value, dict):
        out = {}
        for k, v in value.items():
            if k in _SETS and isinstance(v, list):
                out[k] = sorted(v)
            elif k == "traceback":
                out[k] = shape(v)
            elif k == "prompt" and isinstance(v, list) and len(v) == 5:
                out[k] = ["<number>", *canonical(v[1:])]
            elif k in ("queue_running", "queue_pending") and isinstance(v, list):
                out[k] = [["<number>", *canonical(item[1:])] for item in v]
            else:
                out[k] = canonical(v)
        return out
    if isinstance(value, str):
        return normalise(value, {})
    if isinstance(value, list):
        return [canonical(v) for v in value]
    return value
