"""Typed async HTTP client of one ComfyUI host (the routes of ComfyUI 0.3.64's ``server.py``).

Retries follow ``bot/backend/retry.py``: every GET is idempotent, and so are ``/upload/image``
(a fixed name, overwritten), ``/interrupt`` and ``/queue`` deletes. ``POST /prompt`` is not:
ComfyUI queues a reused ``prompt_id`` again, so it is retried only when it provably did not
arrive, and the backend checks ``/queue`` and ``/history`` before any resend.

The optional ``Authorization`` value is only ever put in the header of requests to this
host, never in a URL, a log line or an exception message."""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import quote, urlencode

import httpx

from bot.backend.comfyui.errors import UnexpectedResponse
from bot.backend.comfyui.settings import ComfyUISettings
from bot.backend.retry import Retrier, Sleep, WallClock

PROMPT: Final = "/prompt"
QUEUE: Final = "/queue"
INTERRUPT: Final = "/interrupt"
UPLOAD_IMAGE: Final = "/upload/image"
SYSTEM_STATS: Final = "/system_stats"
VIEW: Final = "/view"
WEBSOCKET: Final = "/ws"


def history_path(prompt_id: str) -> str:
    return f"/history/{quote(prompt_id, safe='')}"


def host_label(base_url: str) -> str:
    """``gpu1:8188`` for ``http://gpu1:8188``: how people and logs name a host."""
    url = httpx.URL(base_url)
    return f"{url.host}:{url.port}" if url.port is not None else url.host


@dataclass(frozen=True, slots=True)
class QueueSnapshot:
    """``GET /queue``: the ids running and those pending, in the order they will run."""

    running: tuple[str, ...]
    pending: tuple[str, ...]

    def ahead_of(self, prompt_id: str) -> int | None:
        """How many items run before ``prompt_id`` (0 when it runs), None if it is absent."""
        if prompt_id in self.running:
            return 0
        if prompt_id in self.pending:
            return len(self.running) + self.pending.index(prompt_id)
        return None

    def holds(self, prompt_id: str) -> bool:
        return prompt_id in self.running or prompt_id in self.pending


class ComfyClient:
    """One host's API; ``http`` is the process's shared client, never closed here."""

    def __init__(
        self,
        base_url: str,
        settings: ComfyUISettings,
        http: httpx.AsyncClient,
        *,
        rng: random.Random,
        sleep: Sleep,
        wall_clock: WallClock,
    ) -> None:
        self.base = base_url.rstrip("/")
        self.label = host_label(self.base)
        self._settings = settings
        self._http = http
        self._retrier = Retrier(settings, rng=rng, sleep=sleep, wall_clock=wall_clock)

    def url(self, path: str) -> str:
        return self.base + path

    def view_url(self, file: Mapping[str, str]) -> str:
        """The ``/view`` URL of an output ``{filename, subfolder, type}``."""
        query = {k: file.get(k, "") for k in ("filename", "subfolder", "type")}
        return f"{self.base}{VIEW}?{urlencode(query)}"

    def ws_url(self, client_id: str) -> str:
        scheme = "wss" if self.base.startswith("https:") else "ws"
        rest = self.base.split("://", 1)[1]
        return f"{scheme}://{rest}{WEBSOCKET}?{urlencode({'clientId': client_id})}"

    # --- API calls -------------------------------------------------------------------------

    async def queue_remaining(self, *, attempts: int | None = None) -> int:
        """``GET /prompt``: items running or pending."""
        data = _json_object(await self.send("GET", PROMPT, attempts=attempts))
        info = data.get("exec_info")
        remaining = info.get("queue_remaining") if isinstance(info, dict) else None
        if not isinstance(remaining, int) or isinstance(remaining, bool):
            raise UnexpectedResponse("GET /prompt has no exec_info.queue_remaining")
        return remaining

    async def history(self, prompt_id: str) -> dict[str, Any] | None:
        """The history entry of ``prompt_id``; None while pending, running or unknown."""
        data = _json_object(await self.send("GET", history_path(prompt_id)))
        entry = data.get(prompt_id)
        if entry is None:
            return None
        if not isinstance(entry, dict):
            raise UnexpectedResponse("a history entry is not an object")
        return entry

    async def queue(self) -> QueueSnapshot:
        data = _json_object(await self.send("GET", QUEUE))

        def items(name: str) -> list[tuple[float, str]]:
            value = data.get(name)
            if not isinstance(value, list):
                raise UnexpectedResponse(f"GET /queue has no {name} list")
            found = []
            for item in value:
                if isinstance(item, list) and len(item) > 1 and isinstance(item[1], str):
                    number = item[0] if isinstance(item[0], int | float) else 0.0
                    found.append((float(number), item[1]))
            return found

        running = tuple(pid for _, pid in items("queue_running"))
        pending = tuple(pid for _, pid in sorted(items("queue_pending")))
        return QueueSnapshot(running, pending)

    async def post_prompt(self, body: Mapping[str, Any]) -> httpx.Response:
        """``POST /prompt``; the caller reads the answer (200, or 400 with ``node_errors``)."""
        return await self.send("POST", PROMPT, json=dict(body), idempotent=False)

    async def upload_image(self, name: str, data: bytes, content_type: str) -> str:
        """Store ``data`` in the host's input folder as ``name`` (overwritten); return the
        value ``LoadImage`` takes."""
        response = await self.send(
            "POST",
            UPLOAD_IMAGE,
            files={"image": (name, data, content_type)},
            data={"overwrite": "true", "type": "input"},
        )
        answer = _json_object(response)
        stored, subfolder = answer.get("name"), answer.get("subfolder") or ""
        if not isinstance(stored, str) or not stored or not isinstance(subfolder, str):
            raise UnexpectedResponse("the upload answer has no name")
        return f"{subfolder}/{stored}" if subfolder else stored

    async def interrupt(self, prompt_id: str) -> None:
        """Stop ``prompt_id`` if it is the one running (ComfyUI ignores it otherwise)."""
        _expect_ok(await self.send("POST", INTERRUPT, json={"prompt_id": prompt_id}), INTERRUPT)

    async def delete_pending(self, prompt_id: str) -> None:
        _expect_ok(await self.send("POST", QUEUE, json={"delete": [prompt_id]}), QUEUE)

    async def system_stats(self) -> dict[str, Any]:
        return _json_object(await self.send("GET", SYSTEM_STATS, attempts=1))

    # --- transport --------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        target: str,
        *,
        json: Any = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
        data: Mapping[str, str] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        attempts: int | None = None,
    ) -> httpx.Response:
        """Send with the authorization, a per-attempt deadline and the retry policy.

        ``target`` is a path or an absolute URL of this host. With ``stream=True`` the body
        is not read and the caller must close the response."""
        url = target if "://" in target else self.url(target)
        headers = self._settings.auth_headers()
        return await self._retrier.send(
            self._http,
            lambda: self._http.build_request(
                method, url, json=json, files=files, data=data, headers=headers
            ),
            label=f"{method} {self.label}{httpx.URL(url).path}",
            idempotent=idempotent,
            stream=stream,
            attempts=attempts,
        )


def _expect_ok(response: httpx.Response, path: str) -> None:
    if response.status_code != 200:
        raise UnexpectedResponse(f"unexpected HTTP {response.status_code} for {path}")


def _json_object(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise UnexpectedResponse(
            f"unexpected HTTP {response.status_code} for {response.request.url.path}"
        )
    try:
        data = response.json()
    except ValueError:
        raise UnexpectedResponse(
            f"{response.request.url.path} answered something not JSON"
        ) from None
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"{response.request.url.path} answered something not an object")
    return data
