"""Helpers for the ComfyUI backend tests: requests, routes, waiting for sockets and jobs."""

from __future__ import annotations

import io
from typing import Any, Final

import httpx
from PIL import Image

from bot.backend.comfyui import ComfyUIBackend
from bot.backend.transport import AiohttpTransport
from bot.backend.types import GenerationRequest, ReferenceImage
from emulator.comfyui import ComfyEmulator
from tests.emulator.comfyui.workflows import txt2img
from tests.support.comfyui import CHECKPOINT, prompt_id_of
from tests.support.waiting import until

POST_PROMPT: Final = "POST /prompt"
HISTORY: Final = "GET /history/{prompt_id}"
QUEUE: Final = "GET /queue"
UPLOAD: Final = "POST /upload/image"

SLOW_POLLS: Final[dict[str, Any]] = {"expected_generation_time": 30.0, "safety_net_poll": 30.0}
"""Polls that cannot end a test's wait: what ends it came over the WebSocket."""


def request(prompt: str = "a lighthouse at dusk", **fields: Any) -> GenerationRequest:
    values: dict[str, Any] = {"seed": 42, "width": 64, "height": 64, "steps": 3, **fields}
    return GenerationRequest(prompt=prompt, **values)


def png(width: int, height: int, color: tuple[int, int, int] = (20, 200, 40)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()


def reference(width: int = 64, height: int = 64, weight: float = 0.5) -> ReferenceImage:
    return ReferenceImage(png(width, height), "image/png", width, height, weight)


async def connected(backend: ComfyUIBackend) -> None:
    """Until every host's WebSocket is up."""
    await until(lambda: all(h.connected for h in backend.hosts))


async def submitted(
    backend: ComfyUIBackend, key: str, generation: GenerationRequest | None = None
) -> str:
    """Plan and submit one job; return its handle."""
    ticket = await backend.plan(scope=None, client_key=key)
    return await backend.submit(generation or request(), ticket=ticket)


async def running(emu: ComfyEmulator, handle: str) -> None:
    """Until the emulator runs the job of ``handle``."""
    pid = prompt_id_of(handle)
    await until(lambda: emu.running_prompt_id == pid)


async def hold_host(emu: ComfyEmulator, text: str = "blocker") -> str:
    """Start another client's job and wait until it runs; with ``manual_completion`` it
    holds the host until ``emu.release``. Returns its prompt id."""
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        answer = await http.post("/prompt", json={"prompt": txt2img(CHECKPOINT, text)})
    prompt_id = str(answer.json()["prompt_id"])
    await until(lambda: emu.running_prompt_id == prompt_id)
    return prompt_id


class ScriptedPosts(httpx.AsyncBaseTransport):
    """The real transport, except for the first ``POST /prompt``s, which follow ``script``:
    ``"answer-lost"`` reaches the host, then the connection drops before the answer;
    ``"refused"`` never connects; ``"timed-out"`` times out without reaching the host."""

    def __init__(self, *script: str) -> None:
        self.script = list(script)
        self._inner = AiohttpTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and request.url.path == "/prompt" and self.script:
            step = self.script.pop(0)
            if step == "answer-lost":
                response = await self._inner.handle_async_request(request)
                await response.aclose()
                raise httpx.ReadError("the connection dropped", request=request)
            if step == "refused":
                raise httpx.ConnectError("connection refused", request=request)
            if step == "timed-out":
                raise httpx.ReadTimeout("timed out", request=request)
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()
