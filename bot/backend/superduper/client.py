"""Typed async HTTP client of the SuperDuper API: timeouts, retries, error mapping.

Retries follow ``bot/backend/retry.py``: every GET and ``POST /api/projects`` (which carries
the caller's ``Idempotency-Key``) are idempotent. ``POST /api/generation/image`` carries an
``Idempotency-Key`` derived from the job, so a resumed job gets its earlier files back where
the service honours the key; the service may ignore it, so within one call it is still
treated as *not* idempotent (retried only when it provably did not start work).

The bearer token is only ever put in the ``Authorization`` header of the request being sent,
never in a URL, a log line or an exception message.
"""

from __future__ import annotations

import asyncio
import logging
import math
import random
import time
import urllib.parse
from collections.abc import Mapping
from typing import Any

import httpx

from bot.backend.errors import InvalidRequest
from bot.backend.http import shared_http_client
from bot.backend.retry import Admission, Retrier, Sleep, WallClock
from bot.backend.superduper import paths
from bot.backend.superduper.errors import FileNotFound, ProjectNotFound, UnexpectedResponse
from bot.backend.superduper.files import FileState, FileStatus, SubmittedFile
from bot.backend.superduper.payloads import minimal_project_payload
from bot.backend.superduper.settings import SuperDuperSettings

logger = logging.getLogger(__name__)

__all__ = ["Sleep", "SuperDuperClient", "WallClock", "make_http_client", "parse_file_state"]

FK_VIOLATION_MARKER = "ForeignKeyViolationError"


def make_http_client(settings: SuperDuperSettings) -> httpx.AsyncClient:
    """A shared HTTP client with this service's timeouts (``bot/backend/http.py``)."""
    return shared_http_client(
        request_timeout=settings.request_timeout, connect_timeout=settings.connect_timeout
    )


class SuperDuperClient:
    """One typed method per API call; ``http`` is shared and never closed here."""

    def __init__(
        self,
        settings: SuperDuperSettings,
        http: httpx.AsyncClient,
        *,
        rng: random.Random | None = None,
        sleep: Sleep | None = None,
        wall_clock: WallClock | None = None,
    ) -> None:
        self._settings = settings
        self._http = http
        self._retrier = Retrier(
            settings,
            rng=rng if rng is not None else random.Random(),
            sleep=sleep if sleep is not None else asyncio.sleep,
            wall_clock=wall_clock if wall_clock is not None else time.time,
        )
        self._base = settings.base_url.rstrip("/")

    @property
    def settings(self) -> SuperDuperSettings:
        return self._settings

    def url(self, path: str) -> str:
        return self._base + path

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self._settings.token}"}

    # --- API calls -------------------------------------------------------------------------

    async def create_project(self, *, title: str, idempotency_key: str) -> str:
        response = await self.send(
            "POST",
            paths.PROJECTS,
            json=minimal_project_payload(title),
            headers={"Idempotency-Key": idempotency_key},
            idempotent=True,
        )
        self._raise_for_status(response, what="project creation")
        return _string_field(_json_object(response), "id")

    async def get_project(self, project_id: str) -> dict[str, Any] | None:
        """The project as the service returns it, or ``None`` when it does not exist."""
        response = await self.send("GET", paths.project(project_id))
        if response.status_code == 404:
            return None
        self._raise_for_status(response, what="project")
        return _json_object(response)

    async def project_exists(self, project_id: str) -> bool:
        return await self.get_project(project_id) is not None

    async def submit(
        self, payload: dict[str, Any], *, idempotency_key: str, path: str = paths.GENERATE_IMAGE
    ) -> list[SubmittedFile]:
        """Start a generation (``payloads.generation_payload``); the key makes a repeat of
        the same request return the same files where the service honours it."""
        response = await self.send(
            "POST",
            path,
            json=payload,
            headers={"Idempotency-Key": idempotency_key},
            idempotent=False,
        )
        if response.status_code == 404:
            raise ProjectNotFound("the service does not know this project")
        self._raise_for_status(response, what="generation")
        files = _json_object(response).get("files")
        if not isinstance(files, list) or not files:
            raise UnexpectedResponse("the generation answer has no files")
        submitted = []
        for item in files:
            if not isinstance(item, dict):
                raise UnexpectedResponse("a file in the generation answer is not an object")
            pid = item.get("project_id")
            submitted.append(
                SubmittedFile(
                    id=_string_field(item, "id"),
                    status=_status(item.get("status")),
                    project_id=pid if isinstance(pid, str) else None,
                )
            )
        return submitted

    async def file_status(
        self, file_id: str, *, attempts: int | None = None, admission: Admission | None = None
    ) -> FileState:
        """``admission``: what each attempt passes on its way out (the watcher's rate cap)."""
        response = await self.send(
            "GET", paths.file(file_id), attempts=attempts, admission=admission
        )
        if response.status_code == 404:
            raise FileNotFound(f"the service does not know file {file_id}")
        self._raise_for_status(response, what="file")
        return parse_file_state(_json_object(response))

    # --- transport --------------------------------------------------------------------------

    async def send(
        self,
        method: str,
        target: str,
        *,
        json: Any = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool = True,
        stream: bool = False,
        attempts: int | None = None,
        admission: Admission | None = None,
    ) -> httpx.Response:
        """Send with auth, a per-attempt deadline and the retry policy (``attempts`` tries,
        the settings' by default); return the response.

        ``target`` is an API path or an absolute URL of the service. 401/403 raise
        ``AuthRefused``; the foreign-key 500 raises ``ProjectNotFound``; exhausted retries raise
        ``BackendUnavailable``. Other statuses are returned for the caller to interpret. With
        ``stream=True`` the body is not read and the caller must close the response."""
        absolute = "://" in target
        url = target if absolute else self.url(target)
        path = urllib.parse.urlsplit(target).path if absolute else target.split("?", 1)[0]
        request_headers = {**(headers or {}), **self.auth_headers()}
        return await self._retrier.send(
            self._http,
            lambda: self._http.build_request(method, url, json=json, headers=request_headers),
            label=f"{method} {path}",
            idempotent=idempotent,
            stream=stream,
            attempts=attempts,
            server_error=_project_missing,
            finishing=method == "GET",  # status polls and downloads finish work under way
            admission=admission,
        )

    @staticmethod
    def _raise_for_status(response: httpx.Response, *, what: str) -> None:
        status = response.status_code
        if 200 <= status < 300:
            return
        if status == 422:
            detail = _detail(response)
            raise InvalidRequest(_describe_detail(detail), details=detail)
        if status == 404 and what == "project":
            raise ProjectNotFound("the service does not know this project")
        raise UnexpectedResponse(f"unexpected HTTP {status} for a {what} request")


def parse_file_state(data: Mapping[str, Any]) -> FileState:
    """Read a ``GET /api/files/{id}`` answer leniently (unknown fields ignored)."""

    def opt_str(name: str) -> str | None:
        value = data.get(name)
        return value if isinstance(value, str) and value else None

    def opt_int(name: str) -> int | None:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return int(value)

    def opt_float(name: str) -> float | None:
        value = data.get(name)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return None
        return float(value) if math.isfinite(value) else None

    progress = opt_int("progress") or 0
    return FileState(
        id=_string_field(data, "id"),
        status=_status(data.get("status")),
        project_id=opt_str("project_id"),
        progress=min(max(progress, 0), 100),
        url=opt_str("url"),
        error=opt_str("error"),
        content_type=opt_str("content_type"),
        width=opt_int("width"),
        height=opt_int("height"),
        seed=opt_int("seed"),
        duration=opt_float("duration"),
    )


def _project_missing(status: int, body: str) -> None:
    """The service answers a generation for a deleted project with a foreign-key 500."""
    if status == 500 and FK_VIOLATION_MARKER in body:
        raise ProjectNotFound("the service does not know this project")


def _status(value: object) -> FileStatus:
    try:
        return FileStatus(str(value))
    except ValueError:
        # A status this client does not know (e.g. "queued"): not terminal, keep waiting.
        return FileStatus.PENDING


def _json_object(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        raise UnexpectedResponse(f"HTTP {response.status_code} answer is not JSON") from None
    if not isinstance(data, dict):
        raise UnexpectedResponse(f"HTTP {response.status_code} answer is not a JSON object")
    return data


def _string_field(data: Mapping[str, Any], name: str) -> str:
    value = data.get(name)
    if not isinstance(value, str) or not value:
        raise UnexpectedResponse(f"the answer has no {name!r}")
    return value


def _detail(response: httpx.Response) -> object:
    try:
        data = response.json()
    except ValueError:
        return response.text[:500]
    return data.get("detail", data) if isinstance(data, dict) else data


def _describe_detail(detail: object) -> str:
    """FastAPI-style ``detail`` (a string or a list of ``{loc, msg}``) as one readable line."""
    if isinstance(detail, str):
        return detail
    if isinstance(detail, list):
        parts = []
        for entry in detail:
            if isinstance(entry, dict):
                loc = entry.get("loc")
                where = (
                    ".".join(str(p) for p in loc if p != "body") if isinstance(loc, list) else ""
                )
                msg = str(entry.get("msg", "invalid"))
                parts.append(f"{where}: {msg}" if where else msg)
            else:
                parts.append(str(entry))
        if parts:
            return "; ".join(parts)
    return "the service rejected the request"
