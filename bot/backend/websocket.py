"""A WebSocket kept open with our own reconnect loop (shared by the backends' watchers).

websockets' ``async for ws in connect(...)`` resets its backoff on every successful open, so
a server that accepts and then closes causes a reconnect storm. Here reconnects wait a
full-jitter exponential delay between ``reconnect_floor`` and ``reconnect_cap``, and the
backoff is reset only after a connection stayed up ``healthy_after`` seconds. A 401/403 at
handshake sets ``auth_refused`` (the owner polls only) and retries ``auth_refused_retry``
later. Keepalive pings detect half-open sockets; an oversized or broken message ends the
connection and the loop reconnects. Handshake headers are redacted in websockets' logs.
The pause between attempts (``sleep``) and the clock that times a connection's uptime
(``clock``, the event loop's by default) are injectable, so tests can check the delays."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import InvalidStatus, WebSocketException

from bot.backend.backoff import floored_jitter
from bot.backend.logs import HeaderRedactingAdapter
from bot.backend.retry import Sleep

logger = logging.getLogger(__name__)

Connect = Callable[..., Any]
"""``websockets.asyncio.client.connect`` or a compatible factory (injectable)."""


class SocketTimings(Protocol):
    @property
    def reconnect_floor(self) -> float: ...
    @property
    def reconnect_cap(self) -> float: ...
    @property
    def healthy_after(self) -> float: ...
    @property
    def auth_refused_retry(self) -> float: ...
    @property
    def ws_open_timeout(self) -> float: ...
    @property
    def ws_close_timeout(self) -> float: ...
    @property
    def ping_interval(self) -> float: ...
    @property
    def ping_timeout(self) -> float: ...
    @property
    def max_ws_message_bytes(self) -> int: ...


def _nothing() -> None:
    return None


@dataclass(frozen=True, slots=True)
class SocketCallbacks:
    """What the owner of a socket does with it."""

    opened: Callable[[ClientConnection], Awaitable[None]]
    received: Callable[[str | bytes], None]
    """One message; raising here is logged and never costs the connection."""
    closed: Callable[[], None]
    """After every attempt, whether it opened or not."""
    unreachable: Callable[[], None] = _nothing
    """A connection attempt failed before the handshake (the host may be down)."""


class ReconnectingSocket:
    """One WebSocket to ``url``, reopened forever by ``run`` (cancel the task to stop it)."""

    def __init__(
        self,
        url: str,
        session: SocketCallbacks,
        timings: SocketTimings,
        *,
        rng: random.Random,
        connect_factory: Connect | None = None,
        headers: Mapping[str, str] | None = None,
        name: str = "WebSocket",
        needed: asyncio.Event | None = None,
        still_needed: Callable[[], bool] | None = None,
        sleep: Sleep | None = None,
        clock: Callable[[], float] | None = None,
    ) -> None:
        self._url = url
        self._session = session
        self._timings = timings
        self._rng = rng
        self._connect: Connect = connect_factory if connect_factory is not None else connect
        self._headers = dict(headers or {})
        self._name = name
        self._needed = needed
        """When given, the loop only connects while it is set (opened lazily)."""
        self._still_needed = still_needed
        self._sleep: Sleep = sleep if sleep is not None else asyncio.sleep
        self._clock = clock
        """Seconds, for ``healthy_after``; the running loop's clock when None."""
        self.auth_refused = False
        """True after the last handshake was refused with 401/403 (polling only for now)."""
        self.connections = 0
        """Connections opened so far (introspection for tests and metrics)."""

    async def run(self) -> None:
        t = self._timings
        clock = self._clock if self._clock is not None else asyncio.get_running_loop().time
        failures = 0
        ws_logger = HeaderRedactingAdapter(logging.getLogger("websockets.client"))
        while True:
            if self._needed is not None:
                await self._needed.wait()
            opened_at: float | None = None
            delay: float | None = None
            try:
                async with self._connect(
                    self._url,
                    additional_headers=self._headers,
                    open_timeout=t.ws_open_timeout,
                    close_timeout=t.ws_close_timeout,
                    ping_interval=t.ping_interval or None,
                    ping_timeout=t.ping_timeout or None,
                    max_size=t.max_ws_message_bytes,
                    logger=ws_logger,
                ) as ws:
                    opened_at = clock()
                    self.connections += 1
                    self.auth_refused = False
                    await self._session.opened(ws)
                    async for message in ws:
                        try:
                            self._session.received(message)
                        except Exception:  # a bad event must never cost the connection
                            logger.exception("ignoring a WebSocket event that could not be handled")
                logger.info("%s closed by the service; reconnecting", self._name)
            except asyncio.CancelledError:
                raise
            except InvalidStatus as exc:
                status = exc.response.status_code
                if status in (401, 403):
                    self.auth_refused = True
                    delay = t.auth_refused_retry
                    logger.warning(
                        "%s handshake refused (HTTP %d): polling only, retrying in %.0fs",
                        self._name,
                        status,
                        delay,
                    )
                else:
                    logger.info("%s handshake answered HTTP %d", self._name, status)
            except (OSError, TimeoutError, WebSocketException) as exc:
                logger.info("%s connection lost or failed: %s", self._name, type(exc).__name__)
                if opened_at is None and isinstance(exc, OSError | TimeoutError):
                    self._session.unreachable()
            except Exception:  # never let a surprise end the WebSocket for good
                logger.exception("unexpected %s failure; reconnecting", self._name)
            finally:
                self._session.closed()
            if opened_at is not None and clock() - opened_at >= t.healthy_after:
                failures = 0
            failures += 1
            if delay is None:
                delay = floored_jitter(
                    self._rng, failures - 1, floor=t.reconnect_floor, cap=t.reconnect_cap
                )
            await self._sleep(delay)
            needed, still_needed = self._needed, self._still_needed
            if needed is not None and still_needed is not None and not still_needed():
                needed.clear()
