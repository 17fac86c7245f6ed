"""The health endpoint of ``imagine-bot run`` (``IMAGINE_HEALTH_PORT``).

* ``GET /healthz`` — liveness: the process answers and no platform connection has died
  for good (a dead one also ends the process, so a supervisor restarts it).
* ``GET /metrics`` — Prometheus metrics (``app/metrics.py``).
* ``GET /readyz`` — readiness: the store takes a write, every configured platform is
  connected, and every image service is reachable (a service whose live events are down
  but that answers is "degraded": ready, polling).

Both answer JSON ``{"ok": bool, "checks": [{"name", "ok", "detail"}]}`` with 200 or 503.
``imagine-bot health`` asks ``/readyz`` on 127.0.0.1 (the Docker ``HEALTHCHECK``)."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Final

from aiohttp import web

from bot.backend.protocol import ImageBackend
from bot.clock import Clock
from bot.store import ValueStore

log = logging.getLogger(__name__)

PROBE_CACHE_SECONDS: Final = 5.0
"""A service is probed at most this often, however often the endpoint is asked."""
CHECK_TIMEOUT: Final = 5.0


@dataclass(frozen=True, slots=True)
class Check:
    name: str
    ok: bool
    detail: str


Probe = Callable[[], Awaitable[tuple[bool, str]]]
"""Answers (ok, detail) for one component."""


@dataclass(frozen=True, slots=True)
class HealthCheck:
    name: str
    probe: Probe = field(compare=False)


class HealthServer:
    """Serves ``/healthz`` and ``/readyz`` from the checks it is given."""

    def __init__(
        self,
        *,
        live: Sequence[HealthCheck],
        ready: Sequence[HealthCheck],
        host: str,
        port: int,
        metrics: Callable[[], bytes] | None = None,
    ) -> None:
        self._metrics = metrics
        self._live = list(live)
        self._ready = list(ready)
        self._host = host
        self._port = port
        self._runner: web.AppRunner | None = None
        self.port = port

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/healthz", self._healthz)
        app.router.add_get("/readyz", self._readyz)
        if self._metrics is not None:
            app.router.add_get("/metrics", self._metrics_page)
        runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await runner.setup()
        try:
            await web.TCPSite(runner, self._host, self._port).start()
        except OSError as exc:
            await runner.cleanup()
            raise PortInUse(
                f"Cannot serve health checks on IMAGINE_HEALTH_PORT {self._port} "
                f"({exc.strerror or type(exc).__name__}); free it or set another port."
            ) from None
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        log.info("health checks on port %d (/healthz, /readyz)", self.port)

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _healthz(self, request: web.Request) -> web.Response:
        return await _answer(self._live)

    async def _readyz(self, request: web.Request) -> web.Response:
        return await _answer([*self._live, *self._ready])

    async def _metrics_page(self, request: web.Request) -> web.Response:
        assert self._metrics is not None
        return web.Response(body=self._metrics(), content_type="text/plain", charset="utf-8")


class PortInUse(OSError):
    """The health port cannot be bound; the message names the setting."""


async def _answer(checks: Sequence[HealthCheck]) -> web.Response:
    results = await asyncio.gather(*(_run(check) for check in checks))
    ok = all(r.ok for r in results)
    body = {"ok": ok, "checks": [asdict(r) for r in results]}
    return web.json_response(body, status=200 if ok else 503, dumps=json.dumps)


async def _run(check: HealthCheck) -> Check:
    try:
        async with asyncio.timeout(CHECK_TIMEOUT):
            ok, detail = await check.probe()
    except TimeoutError:
        ok, detail = False, f"no answer within {CHECK_TIMEOUT:g} s"
    return Check(check.name, ok, detail)


def store_check(store: ValueStore, clock: Clock) -> HealthCheck:
    """The store takes a small write (a locked or full database fails it)."""

    async def writable() -> tuple[bool, str]:
        try:
            await store.set_value("health.checked_at", repr(clock.now()))
        except Exception as exc:
            return False, f"cannot write: {type(exc).__name__}: {exc}"[:300]
        return True, "writable"

    return HealthCheck("store", writable)


def backend_check(backend: ImageBackend, clock: Clock) -> HealthCheck:
    """The service answers (probed at most every ``PROBE_CACHE_SECONDS``); without live
    events it is degraded but ready: jobs are polled."""
    cached: list[tuple[float, bool, str]] = []

    async def reachable() -> tuple[bool, str]:
        now = clock.monotonic()
        if cached and now - cached[0][0] < PROBE_CACHE_SECONDS:
            return cached[0][1], cached[0][2]
        status = await backend.probe()
        degraded = status.reachable and not status.realtime
        detail = f"degraded: {status.detail}" if degraded else status.detail
        cached[:] = [(now, status.reachable, detail)]
        return status.reachable, detail

    return HealthCheck(f"backend:{backend.name}", reachable)
