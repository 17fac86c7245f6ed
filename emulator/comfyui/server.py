"""The ComfyUI emulator: an aiohttp server speaking ComfyUI 0.3.64's HTTP + WebSocket API."""

from __future__ import annotations

import asyncio
import hmac
import mimetypes
import os
import posixpath
import random
import sys
import uuid
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any, Final, Self

from aiohttp import WSCloseCode, WSMsgType, web

from emulator.comfyui.catalogue import stock_node_info
from emulator.comfyui.config import ComfyEmulatorConfig
from emulator.comfyui.counters import ComfyCounters
from emulator.comfyui.executor import Executor
from emulator.comfyui.files import FOLDER_TYPES, FileStore, UnsafePath, clean_subfolder
from emulator.comfyui.nodes import SAMPLERS, input_file_exists, node_functions
from emulator.comfyui.prompt_queue import PromptQueue
from emulator.comfyui.validation import validate_prompt
from emulator.comfyui.websocket_hub import Connection, SocketHub
from emulator.serving import start_app

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
_WS_CLOSE_TIMEOUT: Final = 1.0
_SERVER_ERROR: Final = "500 Internal Server Error\n\nServer got itself in trouble"
"""What aiohttp answers when a ComfyUI handler raises (bad JSON, a prompt not an object)."""
_IMAGE_EXTENSIONS: Final = (".png", ".jpg", ".jpeg", ".webp", ".gif", ".bmp")
VERSION: Final = "0.3.64"


class ComfyEmulator:
    """In-process ComfyUI. ``config`` may be mutated at runtime."""

    def __init__(self, config: ComfyEmulatorConfig | None = None) -> None:
        self.config = config if config is not None else ComfyEmulatorConfig()
        self.counters = ComfyCounters()
        self.files = FileStore()
        self._info = stock_node_info()
        self._fault_rng = random.Random(f"{self.config.seed}:http")
        self._hub = SocketHub(
            random.Random(f"{self.config.seed}:ws"),
            lambda: (self.config.ws_drop_rate, self.config.ws_duplicate_rate),
        )
        self._queue = PromptQueue(self._queue_updated)
        self._executor = Executor(
            lambda: self.config,
            self._queue,
            self._hub,
            self.files,
            node_functions(),
            lambda class_type: self._info[class_type]["output_node"],
            self.counters,
            random.Random(f"{self.config.seed}:names"),
        )
        self._number = 0
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

        app = web.Application(middlewares=[middleware], client_max_size=self.config.max_upload_size)
        routes = [
            ("GET", "/ws", self._websocket),
            ("GET", "/prompt", self._get_prompt),
            ("POST", "/prompt", self._post_prompt),
            ("GET", "/queue", self._get_queue),
            ("POST", "/queue", self._post_queue),
            ("GET", "/history", self._get_history),
            ("GET", "/history/{prompt_id}", self._get_history_item),
            ("POST", "/history", self._post_history),
            ("POST", "/interrupt", self._post_interrupt),
            ("GET", "/view", self._view),
            ("POST", "/upload/image", self._upload_image),
            ("GET", "/system_stats", self._system_stats),
            ("GET", "/object_info", self._object_info),
            ("GET", "/object_info/{node_class}", self._object_info_node),
            ("GET", "/features", self._features),
            ("POST", "/free", self._free),
        ]
        for method, path, handler in routes:
            app.router.add_route(method, "/api" + path, handler)
        for method, path, handler in routes:
            app.router.add_route(method, path, handler)
        runner = await start_app(app, host, port, access_log=access_log)
        self._runner = runner
        self._host = host
        self._port = int(runner.addresses[0][1])
        self._executor.start()

    async def stop(self) -> None:
        """Stop executing, close every WebSocket, stop serving."""
        await self._executor.stop()
        await self._close_websockets(WSCloseCode.GOING_AWAY, "server shutting down")
        if self._runner is not None:
            runner, self._runner = self._runner, None
            await runner.cleanup()

    async def restart(self) -> None:
        """Like a process restart: the queue, history, caches and temp files are lost (input
        and output files stay, they are on disk); sockets are cut without a close frame.
        The port and the counters stay."""
        await self._executor.stop()
        self._queue.clear()
        self._executor.forget()
        self.files.clear_temp()
        self._number = 0
        for conn in list(self._hub.sockets.values()):
            conn.abort()
        self._executor.start()
        await asyncio.sleep(0)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:  # fmt: skip
        await self.stop()

    # -- introspection and test controls ---------------------------------------------------

    @property
    def port(self) -> int:
        return self._port

    @property
    def base_url(self) -> str:
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._port}"

    @property
    def ws_url(self) -> str:
        return self.base_url.replace("http://", "ws://", 1) + "/ws"

    @property
    def completed_at(self) -> dict[str, float]:
        """Prompt id → ``time.monotonic()`` when its run ended (success or error)."""
        return self._queue.completed_at

    @property
    def running_prompt_id(self) -> str | None:
        run = self._executor.current
        return run.prompt_id if run is not None else None

    def release(self, prompt_id: str | None = None) -> bool:
        """Let the sampler of ``prompt_id`` (None: the running prompt's) pass its
        ``manual_completion`` hold: at once if it runs, when it runs if it is queued.
        False when no such prompt is running or queued."""
        return self._executor.release(prompt_id)

    def fail(
        self,
        prompt_id: str,
        message: str = "CUDA out of memory",
        exception_type: str = "torch.OutOfMemoryError",
    ) -> bool:
        """Like ``release``, but the held sampler raises (→ ``execution_error``)."""
        return self._executor.release(prompt_id, (message, exception_type))

    def prompt_of(self, prompt_id: str) -> dict[str, Any] | None:
        """The prompt (as queued, inputs converted) of a running, queued or finished item."""
        items = [*self._queue.running.values(), *self._queue.pending]
        for item in items:
            if item[1] == prompt_id:
                return item[2]
        entry = self._queue.history.get(prompt_id)
        return entry["prompt"][2] if entry is not None else None

    def state_of(self, prompt_id: str) -> str | None:
        """``running``, ``pending``, ``done`` (in the history) or None (unknown here)."""
        if any(item[1] == prompt_id for item in self._queue.running.values()):
            return "running"
        if any(item[1] == prompt_id for item in self._queue.pending):
            return "pending"
        return "done" if prompt_id in self._queue.history else None

    async def wait_done(self, prompt_id: str, timeout: float = 10.0) -> None:
        """Until ``prompt_id`` is in the history (it ran to an end)."""
        async with asyncio.timeout(timeout), self._executor.finished:
            await self._executor.finished.wait_for(lambda: prompt_id in self._queue.history)

    def fail_next(
        self, message: str = "CUDA out of memory", exception_type: str = "torch.OutOfMemoryError"
    ) -> None:
        """The next KSampler to run raises (→ ``execution_error``); stackable."""
        self._executor.fail_next(message, exception_type)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Until nothing runs or waits."""
        async with asyncio.timeout(timeout), self._executor.finished:
            await self._executor.finished.wait_for(lambda: self._queue.remaining == 0)

    async def drop_websockets(self) -> None:
        """Cut every open WebSocket's TCP connection without a close frame."""
        for conn in list(self._hub.sockets.values()):
            conn.abort()
        await asyncio.sleep(0)

    # -- plumbing --------------------------------------------------------------------------

    def _queue_info(self) -> dict[str, Any]:
        return {"exec_info": {"queue_remaining": self._queue.remaining}}

    def _queue_updated(self) -> None:
        self._hub.send_json("status", {"status": self._queue_info()})

    async def _close_websockets(self, code: int, reason: str) -> None:
        closing = [c.start_close(code, reason) for c in list(self._hub.sockets.values())]
        if closing:
            _, pending = await asyncio.wait(closing, timeout=_WS_CLOSE_TIMEOUT)
            for task in pending:
                task.cancel()
            for conn in list(self._hub.sockets.values()):
                conn.abort()

    async def _middleware(self, request: web.Request, handler: _Handler) -> web.StreamResponse:
        cfg = self.config
        resource = request.match_info.route.resource
        route = resource.canonical if resource is not None else "(unmatched)"
        self.counters.requests[f"{request.method} {route}"] += 1
        if cfg.response_delay:
            await asyncio.sleep(cfg.response_delay)
        if cfg.required_authorization is not None:
            given = request.headers.get("Authorization", "").encode()
            if not hmac.compare_digest(given, cfg.required_authorization.encode()):
                return web.Response(status=401, text="401: Unauthorized")
        if resource is None:
            return await handler(request)
        if route.endswith("/ws"):
            if not cfg.ws_available:
                return web.Response(status=503, text="503: Service Unavailable")
            return await handler(request)
        if cfg.http_5xx_rate and self._fault_rng.random() < cfg.http_5xx_rate:
            return web.Response(status=503, text="503: Service Unavailable")
        return await handler(request)

    # -- HTTP handlers ---------------------------------------------------------------------

    async def _get_prompt(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue_info())

    async def _post_prompt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=500, text=_SERVER_ERROR)
        if "number" in body:
            number: float = float(body["number"])
        else:
            number = self._number
            if body.get("front"):
                number = -number
            self._number += 1
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided",
                     "details": "No prompt provided", "extra_info": {}}  # fmt: skip
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        if not isinstance(prompt, dict):
            return web.Response(status=500, text=_SERVER_ERROR)
        prompt_id = str(body.get("prompt_id", uuid.uuid4()))
        verdict = validate_prompt(prompt, self._node_info(), {"LoadImage": self._check_image})
        extra_data = dict(body.get("extra_data", {}))
        if "client_id" in body:
            extra_data["client_id"] = body["client_id"]
        if not verdict.ok:
            return web.json_response(
                {"error": verdict.error, "node_errors": verdict.node_errors}, status=400
            )
        self._queue.put((number, prompt_id, prompt, extra_data, verdict.outputs))
        self._count(prompt, verdict.outputs)
        return web.json_response(
            {"prompt_id": prompt_id, "number": number, "node_errors": verdict.node_errors}
        )

    def _count(self, prompt: dict[str, Any], outputs: list[str]) -> None:
        for node in prompt.values():
            positive = node["inputs"].get("positive") if node["class_type"] in SAMPLERS else None
            if isinstance(positive, list) and len(positive) == 2:
                text = prompt.get(str(positive[0]), {}).get("inputs", {}).get("text")
                if isinstance(text, str):
                    self.counters.generations[text] += 1
        for node_id in outputs:
            self.counters.outputs[prompt[node_id]["class_type"]] += 1

    def _check_image(self, name: str, value: Any) -> str | None:
        return None if input_file_exists(self.files, str(value)) else f"Invalid image file: {value}"

    async def _get_queue(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "queue_running": list(self._queue.running.values()),
                "queue_pending": self._queue.pending,
            }
        )

    async def _post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._queue.wipe()
        for prompt_id in body.get("delete", ()):
            self._queue.delete(prompt_id)
        return web.Response(status=200)

    async def _get_history(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        max_items = int(query["max_items"]) if "max_items" in query else None
        offset = int(query["offset"]) if "offset" in query else -1
        return web.json_response(self._queue.get_history(max_items=max_items, offset=offset))

    async def _get_history_item(self, request: web.Request) -> web.Response:
        return web.json_response(self._queue.get_history(request.match_info["prompt_id"]))

    async def _post_history(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self._queue.history.clear()
        for prompt_id in body.get("delete", ()):
            self._queue.history.pop(prompt_id, None)
        return web.Response(status=200)

    async def _post_interrupt(self, request: web.Request) -> web.Response:
        try:
            body = await request.json()
        except ValueError:
            body = {}
        prompt_id = body.get("prompt_id") if isinstance(body, dict) else None
        if not prompt_id or prompt_id == self.running_prompt_id:
            self._executor.interrupt()
        return web.Response(status=200)

    async def _view(self, request: web.Request) -> web.Response:
        query = request.rel_url.query
        if "filename" not in query:
            return web.Response(status=404)
        filename, folder = query["filename"], None
        for kind in FOLDER_TYPES:
            if filename.endswith(f"[{kind}]"):
                filename, folder = filename[: -len(kind) - 3], kind
                break
        if not filename or filename[0] == "/" or ".." in filename:
            return web.Response(status=400)
        folder = folder or query.get("type", "output")
        if folder not in FOLDER_TYPES:
            return web.Response(status=400)
        try:
            subfolder = clean_subfolder(query.get("subfolder", ""))
        except UnsafePath:
            return web.Response(status=403)
        filename = posixpath.basename(filename)
        data = self.files.get(folder, subfolder, filename)
        if data is None:
            return web.Response(status=404)
        content_type = mimetypes.guess_type(filename)[0] or "application/octet-stream"
        return web.Response(
            body=data,
            headers={"Content-Type": content_type, "Content-Disposition": f'filename="{filename}"'},
        )

    async def _upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post.get("image")
        if not isinstance(image, web.FileField) or not image.filename:
            return web.Response(status=400)
        folder = str(post.get("type") or "input")
        if folder not in FOLDER_TYPES:
            return web.Response(status=500, text=_SERVER_ERROR)
        given_subfolder = str(post.get("subfolder", ""))
        try:
            subfolder = clean_subfolder(given_subfolder)
        except UnsafePath:
            return web.Response(status=400)
        data = image.file.read()
        filename = image.filename
        if post.get("overwrite") not in ("true", "1"):
            stem, ext = os.path.splitext(filename)
            counter = 1
            while self.files.exists(folder, subfolder, filename):
                if self.files.same_content(folder, subfolder, filename, data):
                    break
                filename = f"{stem} ({counter}){ext}"
                counter += 1
        self.files.put(folder, subfolder, filename, data)
        return web.json_response({"name": filename, "subfolder": given_subfolder, "type": folder})

    async def _system_stats(self, request: web.Request) -> web.Response:
        memory = 16 * 1024**3
        return web.json_response({
            "system": {
                "os": os.name, "ram_total": memory, "ram_free": memory // 2,
                "comfyui_version": VERSION, "required_frontend_version": "1.27.10",
                "installed_templates_version": "0.1.95", "required_templates_version": "0.1.95",
                "python_version": sys.version, "pytorch_version": "emulator",
                "embedded_python": False, "argv": ["main.py", "--emulator"],
            },
            "devices": [{
                "name": "cpu", "type": "cpu", "index": None, "vram_total": memory,
                "vram_free": memory // 2, "torch_vram_total": memory,
                "torch_vram_free": memory // 2,
            }],
        })  # fmt: skip

    def _node_info(self) -> dict[str, Any]:
        info = stock_node_info()
        info["CheckpointLoaderSimple"]["input"]["required"]["ckpt_name"][0] = list(
            self.config.checkpoints
        )
        images = [n for n in self.files.names("input") if n.lower().endswith(_IMAGE_EXTENSIONS)]
        info["LoadImage"]["input"]["required"]["image"][0] = images
        self._info = info
        return info

    async def _object_info(self, request: web.Request) -> web.Response:
        return web.json_response(self._node_info())

    async def _object_info_node(self, request: web.Request) -> web.Response:
        name = request.match_info["node_class"]
        info = self._node_info()
        return web.json_response({name: info[name]} if name in info else {})

    async def _features(self, request: web.Request) -> web.Response:
        return web.json_response(self._server_features())

    def _server_features(self) -> dict[str, Any]:
        return {"supports_preview_metadata": True, "max_upload_size": self.config.max_upload_size}

    async def _free(self, request: web.Request) -> web.Response:
        await request.json()
        return web.Response(status=200)

    # -- WebSocket -------------------------------------------------------------------------

    async def _websocket(self, request: web.Request) -> web.StreamResponse:
        cfg = self.config
        ws = web.WebSocketResponse(timeout=_WS_CLOSE_TIMEOUT, compress=False)
        if not ws.can_prepare(request).ok:
            return web.Response(status=400, text="Expected a WebSocket upgrade")
        transport = request.transport
        await ws.prepare(request)
        sid = request.rel_url.query.get("clientId", "") or uuid.uuid4().hex
        self._hub.sockets.pop(sid, None)
        self.counters.ws_connections += 1
        self.counters.ws_open += 1
        conn = Connection(sid, ws, transport, self.counters)
        self._hub.add(conn)
        close_timer: asyncio.TimerHandle | None = None
        try:
            self._hub.send_json("status", {"status": self._queue_info(), "sid": sid}, sid)
            last = self._executor.last_node_id
            if self._executor.client_id == sid and last is not None:
                self._hub.send_json("executing", {"node": last}, sid)
            if cfg.ws_accept_then_close:
                await conn.start_close(WSCloseCode.INTERNAL_ERROR, "closing at once")
                return ws
            if cfg.ws_close_after is not None:
                close_timer = asyncio.get_running_loop().call_later(
                    cfg.ws_close_after, conn.start_close, WSCloseCode.GOING_AWAY, "closing"
                )
            first = True
            async for message in ws:
                if message.type is WSMsgType.TEXT and first:
                    self._on_first_message(conn, message.data)
                first = False
        finally:
            if close_timer is not None:
                close_timer.cancel()
            self._hub.remove(conn)
            await conn.release()
            self.counters.ws_open -= 1
        return ws

    def _on_first_message(self, conn: Connection, text: str) -> None:
        import json

        try:
            data = json.loads(text)
        except ValueError:
            return
        if isinstance(data, dict) and data.get("type") == "feature_flags":
            flags = data.get("data", {})
            conn.feature_flags = flags if isinstance(flags, dict) else {}
            self._hub.send_json("feature_flags", self._server_features(), conn.sid)
