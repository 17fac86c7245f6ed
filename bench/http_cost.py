"""CPU per request of the project's HTTP client (``make_http_client``: httpx over aiohttp)
against httpx's own transport (httpcore's pool), the evidence for ``transport.py``.

Runs in the orchestrator process against an emulator process: the requests go through
``SuperDuperClient.send`` (auth, retries, the in-flight semaphore) as in the bot."""

from __future__ import annotations

import asyncio
import tempfile
import time
from pathlib import Path
from typing import Any, Literal

import httpx

from bench.orchestrate import EmulatorProcess
from bench.procstat import cpu_seconds
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings, make_http_client

ClientKind = Literal["project", "httpcore"]
LABELS: dict[ClientKind, str] = {
    "project": "make_http_client (aiohttp transport)",
    "httpcore": "httpx.AsyncClient (httpcore pool)",
}


def _client(kind: ClientKind, settings: SuperDuperSettings) -> httpx.AsyncClient:
    if kind == "project":
        return make_http_client(settings)
    # What make_http_client was before the aiohttp transport: httpx's default transport.
    return httpx.AsyncClient(
        timeout=httpx.Timeout(settings.request_timeout, connect=settings.connect_timeout),
        transport=httpx.AsyncHTTPTransport(retries=1),
        follow_redirects=False,
    )


async def _measure(
    kind: ClientKind, base_url: str, token: str, concurrency: int, n: int
) -> dict[str, Any]:
    settings = SuperDuperSettings(
        base_url=base_url, token=token, max_concurrent_requests=concurrency
    )
    async with _client(kind, settings) as http:
        client = SuperDuperBackend(settings, http).client
        await client.send("GET", "/api/files/warm-up")
        cpu0, t0 = cpu_seconds(), time.monotonic()
        await asyncio.gather(*(client.send("GET", f"/api/files/f{i}") for i in range(n)))
        cpu, wall = cpu_seconds() - cpu0, time.monotonic() - t0
    return {
        "client": LABELS[kind],
        "kind": kind,
        "concurrency": concurrency,
        "cpu_ms": cpu / n * 1000,
        "rate": n / wall,
    }


def measure_http_cost(requests: int = 2000) -> dict[str, Any]:
    kinds: tuple[ClientKind, ...] = ("project", "httpcore")
    with tempfile.TemporaryDirectory() as tmp, (Path(tmp) / "log.txt").open("w") as log:
        emulator = EmulatorProcess({}, log)
        try:
            base, token = emulator.endpoints["base_url"], emulator.endpoints["token"]
            rows = [
                asyncio.run(_measure(kind, base, token, concurrency, requests))
                for kind in kinds
                for concurrency in (1, 32)
            ]
        finally:
            emulator.stop()
    return {"requests": requests, "rows": rows}
