"""How waits end: WebSocket events, polling without a project, timeouts, failures."""

from __future__ import annotations

import asyncio
import time

from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import FILE_ROUTE, WS_ROUTE, eventually, request


async def test_without_a_project_polling_alone_delivers_and_no_websocket_opens(
    emu: Emulator, backend: FileApi
) -> None:
    [file] = await backend.submit(request(), project_id=None)

    result = await backend.wait(file.id, None, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    assert emu.counters.requests[FILE_ROUTE] >= 1
    assert emu.counters.requests[WS_ROUTE] == 0


async def test_polling_waits_for_the_expected_time_then_backs_off_to_the_cap(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    emu.config.manual_completion = True
    backend = await make_backend(
        expected_generation_time=0.3, poll_interval_min=0.05, poll_interval_cap=0.1
    )
    [file] = await backend.submit(request(), project_id=None)

    started = time.monotonic()
    result = await backend.wait(file.id, None, timeout=0.25)
    assert result.outcome is WaitOutcome.TIMED_OUT
    assert emu.counters.requests[FILE_ROUTE] == 0  # nothing can be done this early

    result = await backend.wait(file.id, None, timeout=1.2)
    elapsed = time.monotonic() - started
    polls = emu.counters.requests[FILE_ROUTE]
    # 1.45 s of waiting, at most one poll per 0.05*0.8 s, and at most ~one per 0.1*1.2 s later.
    assert result.outcome is WaitOutcome.TIMED_OUT
    assert 5 <= polls <= elapsed / 0.04


async def test_a_failed_generation_ends_failed_with_the_service_reason(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.failure_rate = 1.0
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [with_project] = await backend.submit(request(), project_id=project_id)
    [without] = await backend.submit(request(), project_id=None)

    results = await asyncio.gather(
        backend.wait(with_project.id, project_id, timeout=5),
        backend.wait(without.id, None, timeout=5),
    )

    for result in results:
        assert result.outcome is WaitOutcome.FAILED
        assert result.reason.startswith("Generation failed: ")


async def test_a_timeout_ends_timed_out_and_never_hangs(emu: Emulator, backend: FileApi) -> None:
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)

    started = time.monotonic()
    result = await backend.wait(file.id, project_id, timeout=0.3)

    assert result.outcome is WaitOutcome.TIMED_OUT
    assert 0.3 <= time.monotonic() - started < 2.0
    assert result.file is not None and result.file.status == "processing"
    assert "0.3" in result.reason
    assert backend.watcher.pending == 0


async def test_waiters_on_one_file_share_one_watch(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(expected_generation_time=30.0)
    emu.config.manual_completion = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)

    waits = [asyncio.create_task(backend.wait(file.id, project_id, timeout=5)) for _ in range(3)]
    short = await backend.wait(file.id, project_id, timeout=0.05)
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    await emu.finish(file.id)
    results = await asyncio.gather(*waits)

    assert short.outcome is WaitOutcome.TIMED_OUT
    assert [r.outcome for r in results] == [WaitOutcome.COMPLETED] * 3
    assert emu.counters.requests[FILE_ROUTE] == 1


async def test_progress_is_monotonic_despite_duplicated_and_reordered_events(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(expected_generation_time=30.0, safety_net_poll=30.0)
    emu.config.manual_completion = True
    emu.config.ws_duplicate_rate = 1.0
    emu.config.ws_reorder = True
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    seen: list[int] = []

    async def on_progress(percent: int) -> None:
        seen.append(percent)

    waiting = asyncio.create_task(
        backend.wait(file.id, project_id, timeout=5, on_progress=on_progress)
    )
    await eventually(lambda: backend.watcher.subscription_acknowledged(project_id))
    for percent in (25, 50, 75):
        await emu.report_progress(file.id, percent)
    await eventually(lambda: bool(seen) and seen[-1] >= 50)
    await emu.finish(file.id)
    result = await waiting

    assert result.outcome is WaitOutcome.COMPLETED
    assert seen == sorted(set(seen))
    assert seen[-1] == 100
    assert emu.counters.requests[FILE_ROUTE] == 1  # duplicates did not cause extra polls


async def test_a_failing_progress_callback_does_not_end_the_wait(
    emu: Emulator, backend: FileApi
) -> None:
    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    calls = 0

    async def on_progress(percent: int) -> None:
        nonlocal calls
        calls += 1
        raise RuntimeError("chat API down")

    result = await backend.wait(file.id, project_id, timeout=5, on_progress=on_progress)

    assert result.outcome is WaitOutcome.COMPLETED
    assert calls >= 1


async def test_a_thousand_waits_share_one_websocket(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(expected_generation_time=30.0, safety_net_poll=30.0)
    emu.config.manual_completion = True
    projects = [
        await backend.create_project(title=f"c{i}", idempotency_key=f"k{i}") for i in range(10)
    ]
    submissions = await asyncio.gather(
        *(backend.submit(request(count=4), project_id=projects[i % 10]) for i in range(250))
    )
    files = [f for batch in submissions for f in batch]
    assert len(files) == 1000

    waits = [asyncio.create_task(backend.wait(f.id, f.project_id, timeout=30)) for f in files]
    await eventually(lambda: all(backend.watcher.subscription_acknowledged(p) for p in projects))
    for f in files:
        await emu.finish(f.id)
    results = await asyncio.gather(*waits)

    assert all(r.outcome is WaitOutcome.COMPLETED for r in results)
    assert emu.counters.ws_connections == 1
    assert emu.counters.requests[WS_ROUTE] == 1
    assert emu.counters.requests[FILE_ROUTE] == 1000  # one confirmation each, no polling


async def test_a_resumed_wait_on_a_finished_file_polls_at_once(
    emu: Emulator, backend: FileApi, make_backend: MakeBackend
) -> None:
    [file] = await backend.submit(request(), project_id=None)
    assert (await backend.wait(file.id, None, timeout=5)).outcome is WaitOutcome.COMPLETED
    polls_before = emu.counters.requests[FILE_ROUTE]
    # A fresh process (say, after a restart) that expects generations to take 30 s.
    resumed = await make_backend(expected_generation_time=30.0)

    started = time.monotonic()
    result = await resumed.wait(file.id, None, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert time.monotonic() - started < 1.0
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 1


async def test_a_hanging_progress_callback_cannot_outlast_the_timeout(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.manual_completion = True
    [file] = await backend.submit(request(), project_id=None)

    async def hangs(percent: int) -> None:
        await asyncio.Event().wait()

    started = time.monotonic()
    result = await backend.wait(file.id, None, timeout=0.5, on_progress=hangs)

    assert result.outcome is WaitOutcome.TIMED_OUT
    assert time.monotonic() - started < 2.0


async def subscribed_project(emu: Emulator, backend: FileApi) -> str:
    """A project the watcher has subscribed to (one job already waited in it)."""
    project = await backend.create_project(title="channel", idempotency_key="channel")
    [first] = await backend.submit(request(), project_id=project)
    assert (await backend.wait(first.id, project, timeout=5)).outcome is WaitOutcome.COMPLETED
    await eventually(lambda: backend.watcher.subscription_acknowledged(project))
    return project


async def test_a_file_in_an_already_subscribed_project_costs_one_status_request(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(expected_generation_time=0.05, safety_net_poll=30.0)
    project = await subscribed_project(emu, backend)
    emu.config.manual_completion = True
    [file] = await backend.submit(request(), project_id=project)
    polls_before = emu.counters.requests[FILE_ROUTE]

    waiting = asyncio.create_task(backend.wait(file.id, project, timeout=5))
    done, _ = await asyncio.wait({waiting}, timeout=0.3)  # six expected times pass…
    assert not done
    assert emu.counters.requests[FILE_ROUTE] == polls_before  # …without an early poll
    await emu.finish(file.id)

    assert (await waiting).outcome is WaitOutcome.COMPLETED
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 1  # the confirmation only


async def test_a_completion_event_that_beats_the_wait_is_confirmed_at_once(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend(expected_generation_time=30.0, safety_net_poll=30.0)
    project = await subscribed_project(emu, backend)
    emu.config.manual_completion = True
    [file] = await backend.submit(request(), project_id=project)
    events_before = backend.watcher.events_received
    await emu.finish(file.id)  # the event arrives while nobody waits for the file yet
    await eventually(lambda: backend.watcher.events_received > events_before)

    started = time.monotonic()
    result = await backend.wait(file.id, project, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert time.monotonic() - started < 1.0  # not the 30 s first poll


async def test_polling_alone_is_tight_around_the_expected_time(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    """Without events, a file finishing just after the expected time is seen within about
    one tight interval (expected / 20), not after a long back-off."""
    emu.config.manual_completion = True
    backend = await make_backend(
        expected_generation_time=0.6, poll_interval_min=0.01, poll_interval_cap=5.0
    )
    [file] = await backend.submit(request(), project_id=None)
    waiting = asyncio.create_task(backend.wait(file.id, None, timeout=5))
    await eventually(lambda: emu.counters.requests[FILE_ROUTE] >= 6)  # polling for a while
    finished_at = time.monotonic()
    await emu.finish(file.id)

    assert (await waiting).outcome is WaitOutcome.COMPLETED
    assert time.monotonic() - finished_at < 0.04 * 1.2 + 0.1
