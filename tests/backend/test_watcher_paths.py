"""How waits end: WebSocket events, polling without a project, timeouts, failures.

No test here times the watcher: what its schedule decides is ``test_poll_schedule.py``'s,
on a clock the test moves. Here a wait is shown to take the fast path by making the slow
one (a first poll ``expected_generation_time`` = 30 s away) impossible within its timeout,
and the first poll's due time is read from the watcher (``next_poll_at``)."""

from __future__ import annotations

import asyncio
import contextlib

from bot.backend.superduper.files import SubmittedFile, WaitOutcome
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import DEADLINE, FILE_ROUTE, WS_ROUTE, eventually, request


async def submit_one(backend: FileApi, project_id: str | None) -> tuple[SubmittedFile, float]:
    """Submit one file; also return the loop time just before (the watcher times the
    file's first poll from its submission, at most the time the call took later)."""
    before = asyncio.get_running_loop().time()
    [file] = await backend.submit(request(), project_id=project_id)
    return file, before


async def first_poll_due(backend: FileApi, file_id: str, before: float) -> float:
    """Once a wait for ``file_id`` began: seconds from ``before`` to its first poll."""
    await eventually(lambda: backend.watcher.next_poll_at(file_id) is not None)
    due = backend.watcher.next_poll_at(file_id)
    assert due is not None
    return due - before


async def test_without_a_project_polling_alone_delivers_and_no_websocket_opens(
    emu: Emulator, backend: FileApi
) -> None:
    [file] = await backend.submit(request(), project_id=None)

    result = await backend.wait(file.id, None, timeout=5)

    assert result.outcome is WaitOutcome.COMPLETED
    assert result.file is not None and result.file.url is not None
    assert emu.counters.requests[FILE_ROUTE] >= 1
    assert emu.counters.requests[WS_ROUTE] == 0


async def test_polling_without_a_project_is_first_due_at_the_expected_time(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    """The watcher's part; the tight polls and the back-off to the cap after it, on the
    schedule's own clock: ``test_poll_schedule.py``."""
    emu.config.manual_completion = True
    backend = await make_backend(expected_generation_time=30.0)
    file, before = await submit_one(backend, None)
    took = asyncio.get_running_loop().time() - before

    waiting = asyncio.create_task(backend.wait(file.id, None, timeout=DEADLINE))
    due = await first_poll_due(backend, file.id, before)

    assert 30.0 <= due <= 30.0 + took
    assert emu.counters.requests[FILE_ROUTE] == 0  # nothing can be done this early
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting


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

    loop = asyncio.get_running_loop()
    started = loop.time()
    async with asyncio.timeout(DEADLINE):  # never hangs
        result = await backend.wait(file.id, project_id, timeout=0.3)

    assert result.outcome is WaitOutcome.TIMED_OUT
    # Kept: a lower bound on the wait's own deadline, on the loop clock it is set on. The
    # loop never ends a wait early, and load only makes it later: this cannot flake.
    assert loop.time() - started >= 0.3
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

    result = await resumed.wait(file.id, None, timeout=5)  # the 30 s first poll: too late

    assert result.outcome is WaitOutcome.COMPLETED
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 1


async def test_a_hanging_progress_callback_cannot_outlast_the_timeout(
    emu: Emulator, backend: FileApi
) -> None:
    emu.config.manual_completion = True
    [file] = await backend.submit(request(), project_id=None)

    cut_off: list[bool] = []

    async def hangs(percent: int) -> None:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cut_off.append(True)
            raise

    async with asyncio.timeout(DEADLINE):  # a callback left to hang would hang the test
        result = await backend.wait(file.id, None, timeout=0.5, on_progress=hangs)

    assert result.outcome is WaitOutcome.TIMED_OUT
    assert cut_off == [True]  # the wait's deadline ended the callback


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
    file, before = await submit_one(backend, project)
    took = asyncio.get_running_loop().time() - before
    polls_before = emu.counters.requests[FILE_ROUTE]

    waiting = asyncio.create_task(backend.wait(file.id, project, timeout=5))
    # Not the early poll at the expected 0.05 s: the first one is the 30 s safety net.
    assert 30.0 <= await first_poll_due(backend, file.id, before) <= 30.0 + took
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

    polls_before = emu.counters.requests[FILE_ROUTE]

    result = await backend.wait(file.id, project, timeout=5)  # the 30 s first poll: too late

    assert result.outcome is WaitOutcome.COMPLETED
    assert emu.counters.requests[FILE_ROUTE] == polls_before + 1
