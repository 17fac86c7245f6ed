"""HTTP fault knobs: 503 and 429 (with Retry-After) rates, and the response delay."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest

from emulator.superduper import Emulator

from .helpers import PROJECT_BODY, StartEmulator, http_client, ws_connect


@pytest.mark.parametrize("path", ["/api/projects/x", "/api/files/x", "/media/x.png"])
async def test_5xx_rate_one_answers_503_everywhere_http(
    start_emulator: StartEmulator, path: str
) -> None:
    emu = await start_emulator(http_5xx_rate=1.0)
    async with http_client(emu) as http:
        response = await http.get(path)
    assert response.status_code == 503
    assert "detail" in response.json()


async def test_429_carries_the_configured_retry_after(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(http_429_rate=1.0, retry_after="Wed, 21 Oct 2015 07:28:00 GMT")
    async with http_client(emu) as http:
        response = await http.post("/api/projects", json=PROJECT_BODY)
        emu.config.retry_after = "3"
        later = await http.post("/api/projects", json=PROJECT_BODY)
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "Wed, 21 Oct 2015 07:28:00 GMT"
    assert later.headers["Retry-After"] == "3"
    assert emu.projects == ()
    assert emu.counters.requests["POST /api/projects"] == 2


async def test_partial_rates_mix_faults_with_successes(start_emulator: StartEmulator) -> None:
    emu = await start_emulator(http_5xx_rate=0.3, http_429_rate=0.3, seed=5)
    async with http_client(emu) as http:
        statuses = Counter(
            [(await http.post("/api/projects", json=PROJECT_BODY)).status_code for _ in range(60)]
        )
    assert set(statuses) == {201, 429, 503}
    assert len(emu.projects) == statuses[201]


async def test_faults_do_not_touch_the_websocket_handshake(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(http_5xx_rate=1.0, http_429_rate=1.0)
    async with ws_connect(emu):
        pass
    assert emu.counters.ws_connections == 1


async def test_response_delay_holds_every_response(emu: Emulator) -> None:
    emu.config.response_delay = 0.2
    loop = asyncio.get_running_loop()
    async with http_client(emu) as http:
        started = loop.time()
        response = await http.get("/api/files/unknown")
        elapsed = loop.time() - started
    assert response.status_code == 404
    # Kept: a lower bound on the pause the emulator itself inserts (an asyncio.sleep on
    # this loop, after the request left). Sleeps never end early and load only makes them
    # later, so this cannot flake; no upper bound is asserted.
    assert elapsed >= 0.2
