"""Fault matrix, WebSocket side, seen from the thread: whatever the socket does, the user
gets the service's image exactly once, and the bot neither storms nor hangs.

HTTP always goes to the emulator (the source of truth); the faults are in the socket.
Nothing here is timed: "fast" means the slow path (a poll tens of seconds away) cannot
happen before ``DEADLINE``, and reconnect spacing is the delays the socket asked for."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.backend.helpers import RecordingSleep
from tests.support.counting_chat import CountingChat
from tests.support.harness import (
    Harness,
    emulator_config,
    fast_bot_config,
    fast_service,
    invocation,
    open_harness,
)
from tests.support.recording_chat import RecordingChat
from tests.support.superduper import file_ids, project_of, result_url
from tests.support.tcp import TcpProxy
from tests.support.waiting import job_in_state, until
from tests.support.ws_server import ScriptedSocketServer

FILE_ROUTE = "GET /api/files/{id}"
WS_ROUTE = "GET /ws"
DEADLINE = 10.0
SLOW = 60.0
"""Poll intervals (s) far past ``DEADLINE``: a wait that ends within it was not ended by them."""


async def posted_once(h: Harness, chat: RecordingChat, job_id: str) -> None:
    """The job ended posted, with exactly one image: the service's bytes, in its thread."""
    job = await h.bot.wait_for(job_id)
    assert job is not None and job.state is JobState.POSTED, job
    [image] = [i for i in chat.images if i.dedupe_key.startswith(f"{job_id}:")]
    assert image.data == await h.image_bytes(result_url(job, 0))
    assert image.where.thread == job.thread is not None
    assert not [text for _, text in chat.texts if job_id in text and "failed" in text]


async def test_a_socket_that_accepts_then_closes_gets_spaced_reconnects_and_the_image_arrives(
    tmp_path: Path,
) -> None:
    chat = RecordingChat()
    pauses = RecordingSleep(real=True)  # the socket's pauses, waited out for real
    async with Emulator(emulator_config(manual_completion=True)) as emulator:
        emulator.config.ws_accept_then_close = True
        service = fast_service(emulator, reconnect_floor=0.3, reconnect_cap=2.0, healthy_after=10)
        db = tmp_path / "bot.db"
        async with open_harness(emulator, db, [chat], service=service, reconnect_sleep=pauses) as h:
            job_id = await h.bot.imagine(invocation("a fox on a flaky socket"))
            assert job_id is not None
            job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
            await until(lambda: emulator.counters.ws_connections >= 3)
            # every reconnect waited at least the 0.3 s floor, growing (never reset) after
            assert len(pauses.delays) >= 2
            assert pauses.delays[0] == 0.3
            assert all(0.3 < delay <= 2.0 for delay in pauses.delays[1:])
            await emulator.finish(file_ids(job)[0])
            await posted_once(h, chat, job_id)


async def test_a_401_at_the_handshake_falls_back_to_polling_without_retrying_the_socket(
    tmp_path: Path,
) -> None:
    chat = RecordingChat()
    async with Emulator(emulator_config(ws_reject_401=True)) as emulator:
        async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
            first = await h.bot.imagine(invocation("a fox behind a locked door"))
            second = await h.bot.imagine(invocation("another fox behind it"))
            assert first is not None and second is not None
            await posted_once(h, chat, first)
            await posted_once(h, chat, second)
            assert h.backend.watcher.ws_auth_refused
            assert emulator.counters.requests[WS_ROUTE] == 1  # no handshake storm
            assert emulator.counters.ws_connections == 0


async def test_a_half_open_socket_is_detected_within_the_keepalive_window(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    async with TcpProxy("127.0.0.1", emulator.port) as proxy:
        service = fast_service(
            emulator,
            ws_url=f"ws://127.0.0.1:{proxy.port}/ws",
            ping_interval=0.2,
            ping_timeout=0.2,
            ws_close_timeout=0.2,
            safety_net_poll=SLOW,  # while subscribed, only events end the wait quickly
        )
        async with open_harness(emulator, tmp_path / "bot.db", [chat], service=service) as h:
            job_id = await h.bot.imagine(invocation("a fox on a half-open line"))
            assert job_id is not None
            job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
            watcher = h.backend.watcher
            project = project_of(job)
            assert project is not None
            await until(lambda: watcher.subscription_acknowledged(project))

            proxy.blackhole()  # the peer vanishes without a FIN: only keepalive can tell
            # Our 0.2 s keepalive, not websockets' default (20 s ping + 20 s timeout), which
            # could not tell within the deadline.
            await until(lambda: not watcher.connected, timeout=DEADLINE)

            await until(lambda: watcher.subscription_acknowledged(project))  # a new socket
            assert proxy.connections == 2
            await emulator.finish(file_ids(job)[0])
            async with asyncio.timeout(DEADLINE):  # the event, not the 30 s safety net
                await posted_once(h, chat, job_id)


async def test_a_job_finishing_while_the_socket_is_down_is_posted_when_it_returns(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    # Regular polls are 60 s apart: only the reconciliation after the reconnect is fast.
    service = fast_service(
        emulator, poll_interval_min=SLOW, poll_interval_cap=SLOW, safety_net_poll=SLOW
    )
    async with open_harness(emulator, tmp_path / "bot.db", [chat], service=service) as h:
        job_id = await h.bot.imagine(invocation("a fox in a tunnel"))
        assert job_id is not None
        job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
        watcher = h.backend.watcher
        project = project_of(job)
        assert project is not None
        await until(lambda: watcher.is_subscribed(project))
        await until(lambda: emulator.counters.requests[FILE_ROUTE] >= 1)

        emulator.config.ws_available = False
        await emulator.drop_websockets()
        await until(lambda: not watcher.connected)
        await until(lambda: emulator.counters.requests[FILE_ROUTE] >= 2)  # poll on the drop
        await emulator.finish(file_ids(job)[0])  # nobody is subscribed: the event is lost
        assert chat.images == []
        emulator.config.ws_available = True
        async with asyncio.timeout(DEADLINE):  # well before the next 60 s poll
            await posted_once(h, chat, job_id)


async def test_completion_by_event_and_by_poll_at_the_same_moment_posts_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    emulator.config.ws_duplicate_rate = 1.0  # every event twice, for good measure
    chat = CountingChat()
    # A safety-net poll is always due: each completion is seen by the event's poll and a
    # regular poll racing each other.
    service = fast_service(emulator, safety_net_poll=0.01, poll_interval_min=0.01)
    config = fast_bot_config(max_jobs_per_user=8)
    db = tmp_path / "bot.db"
    async with open_harness(emulator, db, [chat], service=service, config=config) as h:
        ids = [await h.bot.imagine(invocation(f"fox {i} seen twice")) for i in range(8)]
        jobs = [await job_in_state(h.store, i or "", JobState.SUBMITTED) for i in ids]
        project = project_of(jobs[0]) or ""
        await until(lambda: h.backend.watcher.subscription_acknowledged(project))
        for job in jobs:
            await emulator.finish(file_ids(job)[0])
        await h.bot.drain()

        for job in jobs:
            await posted_once(h, chat, job.id)
        assert dict(chat.post_attempts) == {f"{job.id}:0": 1 for job in jobs}
        assert len(chat.images) == 8


async def test_malformed_and_unknown_id_messages_change_nothing_the_user_sees(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    async with ScriptedSocketServer() as socket:
        service = fast_service(emulator, ws_url=socket.url, safety_net_poll=30.0)
        async with open_harness(emulator, tmp_path / "bot.db", [chat], service=service) as h:
            job_id = await h.bot.imagine(invocation("a fox among junk"))
            assert job_id is not None
            job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
            await socket.wait_for(lambda: bool(socket.received))
            assert json.loads(socket.received[0]) == {
                "type": "subscribe",
                "project_id": project_of(job),
            }
            event = {"project_id": project_of(job), "file_id": file_ids(job)[0]}
            for junk in (
                "{not json",
                b"\x00\xff binary",
                "[]",
                '"a string"',
                json.dumps({"type": None}),
                json.dumps({"type": "generation.completed", **event, "file_id": "unknown"}),
                json.dumps({"type": "generation.completed", **event, "project_id": "other"}),
                json.dumps({"type": "generation.progress", **event, "progress": "99"}),
                json.dumps({"type": "generation.progress", **event, "progress": -5}),
                json.dumps(  # the right file, a premature "completed" with a foreign URL
                    {"type": "generation.completed", **event, "url": "http://evil.test/x.png"}
                ),
            ):
                await socket.send(junk)
            await socket.send(json.dumps({"type": "subscribed", "project_id": "sentinel"}))
            await until(lambda: h.backend.watcher.subscription_acknowledged("sentinel"))

            assert chat.images == [] and chat.texts == []  # the service still says processing
            stored = await h.store.get_job(job_id)
            assert stored is not None and stored.state is JobState.SUBMITTED
            await emulator.finish(file_ids(job)[0])
            await socket.send(json.dumps({"type": "generation.completed", **event}))
            await posted_once(h, chat, job_id)  # the service's bytes, not evil.test's
            assert socket.connections == 1  # junk never cost the connection


async def test_an_oversized_message_costs_the_connection_not_the_job(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.manual_completion = True
    chat = RecordingChat()
    async with ScriptedSocketServer() as socket:
        service = fast_service(emulator, ws_url=socket.url, max_ws_message_bytes=4096)
        async with open_harness(emulator, tmp_path / "bot.db", [chat], service=service) as h:
            job_id = await h.bot.imagine(invocation("a fox under a flood"))
            assert job_id is not None
            job = await job_in_state(h.store, job_id, JobState.SUBMITTED)
            await socket.wait_for(lambda: socket.connections == 1 and bool(socket.received))
            await socket.send("x" * 100_000)
            await socket.wait_for(lambda: socket.connections == 2)  # dropped, reconnected
            await emulator.finish(file_ids(job)[0])
            await posted_once(h, chat, job_id)
