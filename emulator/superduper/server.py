"""The emulator: an aiohttp HTTP + WebSocket server speaking the SuperDuper API contract."""

from __future__ import annotations

import asyncio
import hmac
import json
import random
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import WSCloseCode, WSMsgType, web

from emulator.render import ImageCache, render_from_reference, render_png, render_video
from emulator.serving import start_app
from emulator.superduper.config import EmulatorConfig
from emulator.superduper.counters import EmulatorCounters
from emulator.superduper.generation import EventSink, GenerationBoard
from emulator.superduper.records import Event, FileRecord, Project
from emulator.superduper.validation import (
    RequestInvalid,
    json_invalid_error,
    parse_generation,
    parse_project,
)
from emulator.superduper.websocket_hub import Connection, SubscriptionHub

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

_FAULTY_PREFIXES: Final = ("/api/", "/media/")
_WS_CLOSE_TIMEOUT: Final = 1.0
_FK_VIOLATION: Final = (
    'ForeignKeyViolationError: insert or update on table "files" violates foreign key '
    'constraint "files_project_id_fkey"\nDETAIL:  Key (project_id)=({project_id}) is not '
    'present in table "projects".'
)


def _render(record: FileRecord) -> bytes:
    if record.seconds is not None:
        return render_video(
            record.spec, record.seconds, reference=record.reference, weight=record.reference_weight
        )
    if record.reference is None:
        return render_png(record.spec)
    return render_from_reference(record.spec, record.reference, record.reference_weight)


def _detail(status: int, detail: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response({"detail": detail}, status=status, headers=headers)


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Emulator:
    """In-process SuperDuper API. ``config`` may be mutated at runtime."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        *,
        wall_clock: Callable[[], datetime] = _utc_now,
    ) -> None:
        config = config if config is not None else EmulatorConfig()
        self.config = config
        self.counters = EmulatorCounters()
        self.completed_at: dict[str, float] = {}
        self._wall_clock = wall_clock
        self._fault_rng = random.Random(f"{config.seed}:http")
        self._hub = SubscriptionHub(random.Random(f"{config.seed}:ws"))
        self._board = GenerationBoard(
            lambda: self.config,
            EventSink(self._publish, self._media_url, self.completed_at),
            random.Random(f"{config.seed}:generation"),
        )
        self._projects: dict[str, Project] = {}
        self._idempotency: dict[str, str] = {}
        self._generations: dict[str, list[dict[str, Any]]] = {}
        """Idempotency-Key of a generation → the files it created."""
        self._images = ImageCache()
        self._runner: web.AppRunner | None = None
        self._host = "127.0.0.1"
        self._port = 0

    # -- lifecycle -------------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, access_log: bool = False
    ) -> None:
        """Serve on ``host:port`` (0 = an ephemeral port)."""
        if self._runner is not None:
            raise RuntimeError("emulator already started")

        @web.middleware
        async def middleware(request: web.Request, handler: _Handler) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware])
        app.router.add_post("/api/projects", self._create_project)
        app.router.add_get("/api/projects/{id}", self._get_project)
        app.router.add_post("/api/generation/image", self._generate_image)
        app.router.add_post("/api/generation/video", self._generate_video)
        app.router.add_get("/api/files/{id}", self._get_file)
        app.router.add_get("/media/{name}", self._get_media)
        app.router.add_get("/ws", self._websocket)
        runner = await start_app(app, host, port, access_log=access_log)
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])

    async def stop(self) -> None:
        """Close every WebSocket, cancel the timers, stop serving."""
        self._board.clear()
        await self._close_websockets(WSCloseCode.GOING_AWAY, "server shutting down")
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Lose all state (projects, files, subscriptions) and close WebSockets; keep the
        port and the counters."""
        self._board.clear()
        self._projects.clear()
        self._idempotency.clear()
        self._generations.clear()
        await self._close_websockets(WSCloseCode.SERVICE_RESTART, "service restart")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    # -- introspection and test controls ---------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        return f"http://{self._url_host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return f"ws://{self._url_host}:{self._port}/ws"

    @property
    def _url_host(self) -> str:
        return f"[{self._host}]" if ":" in self._host else self._host

    @property
    def projects(self) -> tuple[str, ...]:
        """Ids of the projects that exist now."""
        return tuple(self._projects)

    def file_status(self, file_id: str) -> str | None:
        return self._board.status(file_id)

    def reference_of(self, file_id: str) -> tuple[bytes | None, float]:
        """The reference image a generation started from (None without one), and its weight."""
        record = self._board.files[file_id]
        return record.reference, record.reference_weight

    def delete_project(self, project_id: str) -> None:
        """Remove a project: later generations with it get the foreign-key 500; files
        already running keep going (and keep sending events)."""
        self._projects.pop(project_id, None)

    async def finish(self, file_id: str, error: str | None = None) -> None:
        """Complete (or fail with ``error``) a file now. ``KeyError`` if unknown."""
        self._board.finish(file_id, error)
        await asyncio.sleep(0)

    async def report_progress(self, file_id: str, progress: int) -> None:
        """Move a file to ``processing`` at ``progress`` % now and send the progress event."""
        self._board.report_progress(file_id, progress)
        await asyncio.sleep(0)

    async def drop_websockets(self) -> None:
        """Cut every open WebSocket's TCP connection without a close frame."""
        for conn in list(self._hub.connections):
            conn.abort()
        await asyncio.sleep(0)

    # -- plumbing --------------------------------------------------------------------------

    def _publish(self, project_id: str, event: Event) -> None:
        cfg = self.config
        self._hub.publish(
            project_id,
            event,
            drop_rate=cfg.ws_drop_rate,
            duplicate_rate=cfg.ws_duplicate_rate,
        )

    def _media_url(self, record: FileRecord) -> str:
        base = self.config.result_url_base
        base = base.rstrip("/") if base else self.base_url
        return f"{base}/media/{record.id}.{'mp4' if record.is_video else 'png'}"

    async def _close_websockets(self, code: int, reason: str) -> None:
        closing = [conn.start_close(code, reason) for conn in self._hub.forget_all()]
        if closing:
            _, pending = await asyncio.wait(closing, timeout=_WS_CLOSE_TIMEOUT)
            for task in pending:
                task.cancel()
            for conn in list(self._hub.connections):
                conn.abort()

    def _authorized(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "bearer" or not credentials:
            return False
        return hmac.compare_digest(credentials.strip().encode(), self.config.token.encode())

    @staticmethod
    def _unauthorized(request: web.Request) -> web.Response:
        detail = (
            "Invalid authentication credentials"
            if "Authorization" in request.headers
            else "Not authenticated"
        )
        return _detail(401, detail, {"WWW-Authenticate": "Bearer"})

    def _injected_fault(self) -> web.Response | None:
        cfg = self.config
        if cfg.http_5xx_rate and self._fault_rng.random() < cfg.http_5xx_rate:
            return _detail(503, "Service temporarily unavailable")
        if cfg.http_429_rate and self._fault_rng.random() < cfg.http_429_rate:
            return _detail(429, "Too many requests", {"Retry-After": cfg.retry_after})
        return None

    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(unmatched)"
        self.counters.requests[f"{request.method} {route}"] += 1
        if self.config.response_delay:
            await asyncio.sleep(self.config.response_delay)
        if resource is None or request.path == "/ws":
            return await handler(request)
        if request.path.startswith(_FAULTY_PREFIXES):
            fault = self._injected_fault()
            if fault is not None:
                return fault
        if not self._authorized(request):
            return self._unauthorized(request)
        return await handler(request)

    @staticmethod
    async def _json_body(request: web.Request) -> Any:
        text = await request.text()
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise json_invalid_error(exc.msg, exc.pos) from None

    # -- HTTP handlers ---------------------------------------------------------------------

    async def _create_project(self, request: web.Request) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        try:
            params = parse_project(await self._json_body(request))
        except RequestInvalid as exc:
            return _detail(422, exc.errors)
        if key is not None and key in self._idempotency:
            existing = self._projects.get(self._idempotency[key])
            if existing is not None:
                return web.json_response(existing.to_json(), status=201)
        project = Project(
            id=str(uuid.uuid4()),
            type=params.type,
            template_name=params.template_name,
            config=params.config,
            created_at=self._wall_clock().isoformat(),
        )
        self._projects[project.id] = project
        if key is not None:
            self._idempotency[key] = project.id
        return web.json_response(project.to_json(), status=201)

    async def _get_project(self, request: web.Request) -> web.Response:
        project = self._projects.get(request.match_info["id"])
        if project is None:
            return _detail(404, "Project not found")
        return web.json_response(project.to_json())

    async def _generate_image(self, request: web.Request) -> web.Response:
        return await self._generate(request, video=False)

    async def _generate_video(self, request: web.Request) -> web.Response:
        return await self._generate(request, video=True)

    async def _generate(self, request: web.Request, *, video: bool) -> web.Response:
        key = request.headers.get("Idempotency-Key")
        try:
            params = parse_generation(await self._json_body(request), video=video)
        except RequestInvalid as exc:
            return _detail(422, exc.errors)
        if key is not None and key in self._generations:
            # The same key again (a client resuming after a crash): the same files, and no
            # new generation. A request that failed (422, 500) was not remembered.
            self.counters.deduplicated_generations += 1
            return web.json_response({"files": self._generations[key]})
        if params.project_id is not None and params.project_id not in self._projects:
            return _detail(500, _FK_VIOLATION.format(project_id=params.project_id))
        files = self._board.submit(params, params.project_id)
        self.counters.generations[params.prompt] += 1
        body = [{"id": f.id, "status": "pending", "project_id": f.project_id} for f in files]
        if key is not None:
            self._generations[key] = body
        return web.json_response({"files": body})

    async def _get_file(self, request: web.Request) -> web.Response:
        record = self._board.files.get(request.match_info["id"])
        if record is None:
            return _detail(404, "File not found")
        return web.json_response(record.to_json())

    async def _get_media(self, request: web.Request) -> web.Response:
        cfg = self.config
        name = request.match_info["name"]
        stem, _, extension = name.rpartition(".")
        record = self._board.files.get(stem)
        wanted = "mp4" if record is not None and record.is_video else "png"
        if record is None or record.status != "completed" or extension != wanted:
            return _detail(404, "File not found")
        if cfg.redirect_media_to is not None:
            return web.Response(status=302, headers={"Location": cfg.redirect_media_to})
        if cfg.image_override is not None:
            body = cfg.image_override
        else:
            key = (record.spec, record.reference_digest, record.reference_weight)
            cached = self._images.get(key)
            if cached is None:
                cached = await asyncio.to_thread(_render, record)
                self._images.put(key, cached)
            body = cached
        content_type = "video/mp4" if record.is_video else cfg.image_content_type
        return web.Response(body=body, headers={"Content-Type": content_type})

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        if not cfg.ws_available:
            return _detail(503, "WebSocket service unavailable")
        if not self._authorized(request):
            return self._unauthorized(request)
        if cfg.ws_reject_401:
            return _detail(
                401, "Invalid authentication credentials", {"WWW-Authenticate": "Bearer"}
            )
        ws = web.WebSocketResponse(timeout=_WS_CLOSE_TIMEOUT, compress=False)
        if not ws.can_prepare(request).ok:
            return _detail(400, "Expected a WebSocket upgrade")
        transport = request.transport
        await ws.prepare(request)
        self.counters.ws_connections += 1
        self.counters.ws_open += 1
        conn = Connection(ws, transport, self.counters)
        self._hub.add(conn)
        close_timer: asyncio.TimerHandle | None = None
        try:
            if cfg.ws_accept_then_close:
                await conn.start_close(WSCloseCode.INTERNAL_ERROR, "closing at once")
                return ws
            if cfg.ws_close_after is not None:
                close_timer = asyncio.get_running_loop().call_later(
                    cfg.ws_close_after, conn.start_close, WSCloseCode.GOING_AWAY, "closing"
                )
            async for message in ws:
                self._on_client_message(conn, message)
        finally:
            if close_timer is not None:
                close_timer.cancel()
            self._hub.remove(conn)
            await conn.release()
            self.counters.ws_open -= 1
        return ws

    def _on_client_message(self, conn: Connection, message: Any) -> None:
        if message.type is not WSMsgType.TEXT:
            conn.send({"type": "error", "detail": "Only JSON text messages are accepted"})
            return
        try:
            data = json.loads(message.data)
        except json.JSONDecodeError:
            conn.send({"type": "error", "detail": "Message is not valid JSON"})
            return
        if not isinstance(data, dict):
            conn.send({"type": "error", "detail": "Message must be a JSON object"})
            return
        kind = data.get("type")
        if kind == "ping":
            conn.send({"type": "pong"})
            return
        if kind not in ("subscribe", "unsubscribe"):
            conn.send({"type": "error", "detail": f"Unknown message type: {kind!r}"[:200]})
            return
        project_id = data.get("project_id")
        if not isinstance(project_id, str) or not project_id:
            conn.send({"type": "error", "detail": "project_id must be a non-empty string"})
            return
        if kind == "subscribe":
            self._hub.subscribe(conn, project_id)
            conn.send({"type": "subscribed", "project_id": project_id})
        else:
            self._hub.unsubscribe(conn, project_id)
            conn.send({"type": "unsubscribed", "project_id": project_id})
