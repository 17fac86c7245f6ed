"""The watcher when the WebSocket or the service misbehaves."""

from __future__ import annotations

import asyncio

from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import DEADLINE, FILE_ROUTE, WS_ROUTE, RecordingSleep, eventually, request


async def test_with_the_websocket_down_from_the_start_polling_delivers(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.ws_available = False
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)

    result = await backend.wait(file.id, project_id, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert emu.counters.requests[WS_ROUTE] >= 1
    assert emu.counters.ws_connections == 0


async def test_a_job_finishing_while_the_websocket_is_down_is_delivered_by_reconciliation(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    # Regular polls are 60 s apart, past the waits' timeout: only the reconciliation after
    # the reconnect can end them.
    backend = await make_backend(
        poll_interval_min=60.0, poll_interval_cap=60.0, safety_net_poll=60.0
    )
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    results: list[WaitOutcome] = []

    async def wait() -> None:
        result = await backend.wait(file.id, project_id, timeout=DEADLINE)
        results.append(result.outcome)

    waiting = [asyncio.create_task(wait()) for _ in range(2)]
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    await eventually(lambda: emu.counters.requests[FILE_ROUTE] == 1)  # the expected-time poll

    emu.config.ws_available = False
    await emu.drop_websockets()
    await eventually(lambda: not backend.watcher.connected)
    await eventually(lambda: emu.counters.requests[FILE_ROUTE] == 2)  # poll after the drop
    await emu.finish(file.id)  # nobody is subscribed: this event is lost
    emu.config.ws_available = True
    await asyncio.gather(*waiting)

    assert results == [WaitOutcome.COMPLETED, WaitOutcome.COMPLETED]
    assert emu.counters.ws_connections == 2
    # the expected-time poll, the one after the drop, the reconciliation after the reconnect
    assert emu.counters.requests[FILE_ROUTE] == 3


async def test_dropped_events_are_caught_by_the_safety_net_poll(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(safety_net_poll=0.3)
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [first] = await backend.submit(request(), project_id=project_id)
    assert (await backend.wait(first.id, project_id, timeout=5)).outcome is WaitOutcome.COMPLETED
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    emu.config.ws_drop_rate = 1.0
    emu.config.gen_time = (0.15, 0.2)  # done before the first safety-net poll (0.3 s x 0.8+)
    events_before = backend.watcher.events_received
    polls_before = emu.counters.requests[FILE_ROUTE]
    [file] = await backend.submit(request(), project_id=project_id)

    result = await backend.wait(file.id, project_id, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert backend.watcher.events_received == events_before  # every event was dropped
    assert emu.counters.ws_connections == 1
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 1  # one safety-net poll


async def test_a_server_that_accepts_then_closes_gets_no_reconnect_storm(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    """The delays the watcher's socket asks for (the whole policy, on a clock the test
    moves: ``test_reconnect_backoff.py``)."""
    pauses = RecordingSleep(real=True)
    backend = await make_backend(
        reconnect_floor=0.05, reconnect_cap=5.0, healthy_after=10.0, reconnect_sleep=pauses
    )
    emu.config.ws_accept_then_close = True
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    waiting = asyncio.create_task(backend.wait(file.id, project_id, timeout=DEADLINE))

    await eventually(lambda: len(pauses.delays) >= 4)
    await emu.finish(file.id)

    assert (await waiting).outcome is WaitOutcome.COMPLETED  # polling covered meanwhile
    assert emu.counters.ws_connections >= 4
    # The first pause is the floor; a backoff reset by each (short-lived) open would keep
    # it there. It grows instead: every later pause is longer, within the doubling bound.
    assert pauses.delays[0] == 0.05
    for attempt, delay in enumerate(pauses.delays[1:], start=1):
        assert 0.05 < delay <= min(5.0, 0.05 * 2**attempt)


async def test_a_401_at_handshake_falls_back_to_polling(emu: Emulator, backend: FileApi) -> None:
    emu.config.ws_reject_401 = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)

    result = await backend.wait(file.id, project_id, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert backend.watcher.ws_auth_refused
    assert emu.counters.requests[WS_ROUTE] == 1  # next try only after auth_refused_retry
    assert emu.counters.ws_connections == 0


async def test_an_oversized_message_costs_the_connection_not_the_watcher(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    # Every server message (the subscription ack included) is larger than 40 bytes.
    backend = await make_backend(max_ws_message_bytes=40)
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)

    result = await backend.wait(file.id, project_id, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    await eventually(lambda: emu.counters.ws_connections >= 2)  # it keeps reconnecting


async def test_a_restarted_service_that_forgot_the_file_ends_failed_with_a_reason(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    waiting = asyncio.create_task(backend.wait(file.id, project_id, timeout=5))
    await eventually(lambda: emu.counters.requests[FILE_ROUTE] >= 1)

    await emu.restart()
    result = await waiting

    assert result.outcome is WaitOutcome.FAILED
    assert "no longer knows" in result.reason and "restarted" in result.reason


async def test_credentials_refused_while_polling_end_failed_with_a_reason(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.manual_completion = True
    [file] = await backend.submit(request(), project_id=None)
    emu.config.token = "rotated-by-the-admin"

    result = await backend.wait(file.id, None, timeout=5)

    assert result.outcome is WaitOutcome.FAILED
    assert "credentials" in result.reason
    assert "rotated-by-the-admin" not in result.reason


async def test_5xx_during_polling_is_backed_off_and_recovered(
    emu: Emulator, backend: FileApi
) -> None:
    [file] = await backend.submit(request(), project_id=None)
    emu.config.http_5xx_rate = 1.0
    waiting = asyncio.create_task(backend.wait(file.id, None, timeout=5))
    await eventually(lambda: emu.counters.requests[FILE_ROUTE] >= 8)  # two exhausted polls
    emu.config.http_5xx_rate = 0.0

    result = await waiting

    assert result.outcome is WaitOutcome.COMPLETED
