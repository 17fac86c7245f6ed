"""When ``ReconnectingSocket`` tries again: its injected pause records every delay and moves
a clock the test owns, and a scripted connect stands in for the server. No time passes."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Literal

import pytest
from websockets.datastructures import Headers
from websockets.exceptions import InvalidStatus
from websockets.http11 import Response

from bot.backend.timings import ServiceTimings
from bot.backend.websocket import ReconnectingSocket, SocketCallbacks

TIMINGS = ServiceTimings(
    reconnect_floor=3.0, reconnect_cap=60.0, healthy_after=30.0, auth_refused_retry=300.0
)
Step = float | Literal["refused", "401"]
"""One connection attempt: open and stay up this many seconds, refused, or 401."""


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class Enough(Exception):
    """Ends the reconnect loop once the test has seen enough attempts."""


class Pauses:
    """The loop's ``sleep``: records each delay (and whether the socket was refused then),
    moves the clock by it, and ends the loop after ``limit`` pauses."""

    def __init__(self, clock: Clock, limit: int) -> None:
        self.delays: list[float] = []
        self.refused: list[bool] = []
        self.socket: ReconnectingSocket | None = None
        self._clock = clock
        self._limit = limit

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)
        self.refused.append(self.socket is not None and self.socket.auth_refused)
        self._clock.now += delay
        if len(self.delays) >= self._limit:
            raise Enough


class Silent:
    """An open connection that stays up ``uptime`` seconds (by the clock), then closes."""

    def __init__(self, clock: Clock, uptime: float) -> None:
        self._clock = clock
        self._uptime = uptime

    def __aiter__(self) -> Silent:
        return self

    async def __anext__(self) -> str:
        self._clock.now += self._uptime
        raise StopAsyncIteration


class ScriptedConnect:
    """A ``connect`` factory whose attempts follow ``script`` (its last step repeats)."""

    def __init__(self, clock: Clock, *script: Step) -> None:
        self._clock = clock
        self._script = list(script)
        self.attempts = 0

    def __call__(self, url: str, **options: object) -> AbstractAsyncContextManager[Silent]:
        step = self._script[min(self.attempts, len(self._script) - 1)]
        self.attempts += 1
        return self._attempt(step)

    @asynccontextmanager
    async def _attempt(self, step: Step) -> AsyncIterator[Silent]:
        if step == "refused":
            raise ConnectionRefusedError("connection refused")
        if step == "401":
            raise InvalidStatus(Response(401, "Unauthorized", Headers()))
        yield Silent(self._clock, float(step))


class Session:
    def __init__(self) -> None:
        self.opened = 0
        self.closed = 0
        self.unreachable = 0

    async def on_open(self, ws: object) -> None:
        self.opened += 1

    def on_message(self, message: str | bytes) -> None:
        pass

    def on_closed(self) -> None:
        self.closed += 1

    def on_unreachable(self) -> None:
        self.unreachable += 1


async def reconnect_delays(
    *script: Step, attempts: int, seed: int = 1
) -> tuple[Pauses, Session, ReconnectingSocket]:
    """Run the loop against ``script`` until it paused ``attempts`` times."""
    clock = Clock()
    pauses = Pauses(clock, attempts)
    session = Session()
    socket = ReconnectingSocket(
        "ws://service.test/ws",
        SocketCallbacks(
            session.on_open, session.on_message, session.on_closed, session.on_unreachable
        ),
        TIMINGS,
        rng=random.Random(seed),
        connect_factory=ScriptedConnect(clock, *script),
        sleep=pauses,
        clock=clock,
    )
    pauses.socket = socket
    with pytest.raises(Enough):
        await socket.run()
    return pauses, session, socket


def assert_backing_off(delays: list[float]) -> None:
    """Each delay is full jitter between the floor and ``floor * 2**n`` (capped)."""
    for attempt, delay in enumerate(delays):
        assert TIMINGS.reconnect_floor <= delay <= min(60.0, 3.0 * 2.0**attempt)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_a_server_that_accepts_then_closes_gets_no_reconnect_storm(seed: int) -> None:
    pauses, session, socket = await reconnect_delays(0.0, attempts=10, seed=seed)

    assert socket.connections == session.opened == 10
    # The first pause is the floor; a reset would bring it back to exactly the floor, but
    # an open that closes at once never resets the backoff: every later pause is longer.
    assert pauses.delays[0] == TIMINGS.reconnect_floor
    assert all(delay > TIMINGS.reconnect_floor for delay in pauses.delays[1:])
    assert_backing_off(pauses.delays)
    assert max(pauses.delays) > 30.0  # grown towards the cap


async def test_the_backoff_resets_only_after_a_connection_stayed_up_healthy_after() -> None:
    pauses, _, _ = await reconnect_delays(0.0, 0.0, 29.5, 30.5, 0.0, 0.0, attempts=6)

    floor = TIMINGS.reconnect_floor
    after_quick, after_quick_2, after_29s, after_30s, after_reset, after_reset_2 = pauses.delays
    assert after_quick == floor
    assert after_quick_2 > floor
    assert after_29s > floor  # 29.5 s up is not healthy yet: the backoff goes on
    assert after_30s == floor  # 30.5 s up was: it starts again from the floor
    assert after_reset > floor
    assert after_reset_2 > floor
    assert_backing_off([after_quick, after_quick_2, after_29s])
    assert_backing_off([after_30s, after_reset, after_reset_2])


async def test_a_refused_handshake_waits_auth_refused_retry_with_polling_only_meanwhile() -> None:
    pauses, session, socket = await reconnect_delays("401", "401", 0.0, attempts=3)

    assert pauses.delays[:2] == [300.0, 300.0]
    assert pauses.refused == [True, True, False]  # the accepted handshake cleared it
    assert pauses.delays[2] > TIMINGS.reconnect_floor  # failures still count up
    assert session.unreachable == 0
    assert socket.connections == 1


async def test_an_unreachable_host_is_reported_and_retried_with_backoff() -> None:
    pauses, session, socket = await reconnect_delays("refused", attempts=8)

    assert session.unreachable == session.closed == 8
    assert socket.connections == 0
    assert pauses.delays[0] == TIMINGS.reconnect_floor
    assert all(delay > TIMINGS.reconnect_floor for delay in pauses.delays[1:])
    assert_backing_off(pauses.delays)
