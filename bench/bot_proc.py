"""The bot side of one benchmark phase, in its own process (so RSS and CPU are the bot's).

``python -m bench.bot_proc SPEC.json RESULT.json``. Wires the real core — ``ImagineBot``,
a ``SqliteJobStore`` file, the real ``SuperDuperBackend`` (or mode (d)'s fixed-interval
poller around the real client; or, with ``"service": "comfyui"`` in the spec, the real
``ComfyUIBackend``) — to ``BenchChat``, and runs one phase:

* ``throughput``: N ``/imagine`` commands at once; wait until every job ended.
* ``restart``: N commands with the emulator holding every file (``manual_completion``);
  once all N are submitted, stop the bot, complete the files, start a new bot on the same
  database, and time until all N images are posted."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from bench.baseline import FixedIntervalPollingBackend
from bench.chat import BenchChat
from bench.procstat import cpu_seconds, peak_rss_mib, reset_peak_rss, rss_mib
from bench.sendlog import COMFYUI_STATUS_PREFIXES, STATUS_PREFIX, SendLog, peak_per_second
from bot.backend.comfyui import ComfyUIBackend, ComfyUISettings
from bot.backend.comfyui.handles import Submission as ComfySubmission
from bot.backend.http import shared_http_client
from bot.backend.protocol import ImageBackend
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings
from bot.backend.superduper.handles import Submission
from bot.backend.transport import AiohttpTransport
from bot.chat import Conversation, Invocation, Requester
from bot.command import CommandDefaults
from bot.config import BotConfig
from bot.jobs import Job, JobState
from bot.service import ImagineBot
from storage import SqliteJobStore

PLATFORM = "bench"


@dataclass
class Wiring:
    bot: ImagineBot
    store: SqliteJobStore
    backend: SuperDuperBackend | ComfyUIBackend
    waiter: ImageBackend
    sends: SendLog


class Sampler:
    """Samples RSS and how many jobs/watches are in flight, every ``every`` seconds."""

    def __init__(self, wiring: Wiring, every: float = 0.1) -> None:
        self._wiring = wiring
        self._every = every
        self.peak_pending = 0
        self.peak_watching = 0
        self.peak_rss = 0.0
        self._task: asyncio.Task[None] | None = None

    def sample(self) -> None:
        self.peak_pending = max(self.peak_pending, self._wiring.bot.pending)
        self.peak_watching = max(self.peak_watching, self._wiring.backend.watcher.pending)
        self.peak_rss = max(self.peak_rss, rss_mib())

    async def _run(self) -> None:
        while True:
            self.sample()
            await asyncio.sleep(self._every)

    def __enter__(self) -> Sampler:
        self._task = asyncio.create_task(self._run())
        return self

    def __exit__(self, *_: object) -> None:
        self.sample()
        if self._task is not None:
            self._task.cancel()


def comfyui(spec: dict[str, Any]) -> bool:
    return spec.get("service") == "comfyui"


def service_settings(spec: dict[str, Any]) -> SuperDuperSettings:
    return SuperDuperSettings(base_url=spec["base_url"], token=spec["token"], **spec["client"])


def comfyui_settings(spec: dict[str, Any]) -> ComfyUISettings:
    urls = (spec["base_url"],)
    return ComfyUISettings(urls=urls, checkpoint=spec["checkpoint"], **spec["client"])


def bot_config(spec: dict[str, Any]) -> BotConfig:
    side = int(spec.get("image_side", 256))
    n = int(spec["n"])
    # Limits above N: the benchmark measures the watcher, not the fairness queue.
    return BotConfig(
        defaults=CommandDefaults(width=side, height=side),
        max_jobs_per_user=n + 1,
        max_running_jobs=n + 1,
    )


@asynccontextmanager
async def wired(spec: dict[str, Any], db: Path, chat: BenchChat) -> AsyncIterator[Wiring]:
    settings: SuperDuperSettings | ComfyUISettings = (
        comfyui_settings(spec) if comfyui(spec) else service_settings(spec)
    )
    prefixes = COMFYUI_STATUS_PREFIXES if comfyui(spec) else (STATUS_PREFIX,)
    sends = SendLog(AiohttpTransport(), prefixes)
    http = shared_http_client(
        request_timeout=settings.request_timeout,
        connect_timeout=settings.connect_timeout,
        transport=sends,
    )
    async with http:
        store = await SqliteJobStore.open(db)
        backend: SuperDuperBackend | ComfyUIBackend
        if isinstance(settings, ComfyUISettings):
            backend = ComfyUIBackend(settings, http, values=store)
        else:
            backend = SuperDuperBackend(settings, http)
        waiter: ImageBackend
        if spec["backend"] == "fixed-poll":
            if not isinstance(backend, SuperDuperBackend):
                raise ValueError("the fixed-interval baseline wraps SuperDuper only")
            waiter = FixedIntervalPollingBackend(backend, interval=spec["baseline_interval"])
        else:
            waiter = backend
            await backend.start()
        bot = ImagineBot(store=store, backends={waiter.name: waiter}, config=bot_config(spec))
        bot.add_chat(chat)
        try:
            yield Wiring(bot, store, backend, waiter, sends)
        finally:
            await bot.aclose()
            await backend.aclose()
            await store.aclose()


def invocation(i: int, channels: int, users: int) -> Invocation:
    user = f"U{i % users}"
    return Invocation(
        conversation=Conversation(PLATFORM, "W1", f"C{i % channels}"),
        requester=Requester(user, f"user {user}"),
        text=f"benchmark image number {i}",
    )


async def submit_all(bot: ImagineBot, spec: dict[str, Any]) -> list[str]:
    n, channels, users = int(spec["n"]), int(spec["channels"]), int(spec["users"])
    ids = await asyncio.gather(*(bot.imagine(invocation(i, channels, users)) for i in range(n)))
    return [job_id for job_id in ids if job_id is not None]


async def drain(bot: ImagineBot, timeout: float) -> bool:
    try:
        async with asyncio.timeout(timeout):
            await bot.drain()
    except TimeoutError:
        return False
    return True


async def control(
    http: httpx.AsyncClient, spec: dict[str, Any], method: str, path: str, body: object = None
) -> Any:
    response = await http.request(method, spec["control_url"] + path, json=body, timeout=120)
    response.raise_for_status()
    return response.json()


def file_ids_of(job: Job) -> tuple[str, ...]:
    """What the emulator's ``completed_at`` knows the job's work by."""
    if not job.submission:
        return ()
    if job.backend == "comfyui":
        return (ComfySubmission.from_json(job.submission).prompt_id,)
    return Submission.from_json(job.submission).file_ids


def posted_by_file(jobs: list[Job], chat: BenchChat) -> dict[str, float]:
    posted: dict[str, float] = {}
    for job in jobs:
        for index, file_id in enumerate(file_ids_of(job)):
            at = chat.posted_at.get(f"{job.id}:{index}")
            if at is not None:
                posted[file_id] = at
    return posted


async def throughput(spec: dict[str, Any], ctl: httpx.AsyncClient) -> dict[str, Any]:
    chat = BenchChat(PLATFORM)
    workdir = Path(spec["workdir"])
    before = await control(ctl, spec, "GET", "/stats")
    rss_start = rss_mib()
    reset_peak_rss()
    async with wired(spec, workdir / "throughput.db", chat) as w:
        await w.bot.start()
        cpu0, t0 = cpu_seconds(), time.monotonic()
        with Sampler(w) as sampler:
            ids = await submit_all(w.bot, spec)
            submitted_at = time.monotonic()
            finished = await drain(w.bot, spec["timeout"])
        t1, cpu1 = time.monotonic(), cpu_seconds()
        peak = max(peak_rss_mib(), sampler.peak_rss)
        jobs = [job for job in [await w.store.get_job(i) for i in ids] if job is not None]
        connections = w.backend.watcher.connections
        sent_peak = peak_per_second(w.sends.status_sent)
    after = await control(ctl, spec, "GET", "/stats")
    return {
        "n": spec["n"],
        "bot_peak_status_per_s": sent_peak,
        "accepted": len(ids),
        "finished": finished,
        "states": dict(Counter(job.state.value for job in jobs)),
        "posted_at": posted_by_file(jobs, chat),
        "accept_s": submitted_at - t0,
        "wall_s": t1 - t0,
        "cpu_s": cpu1 - cpu0,
        "rss_start_mib": rss_start,
        "rss_peak_mib": peak,
        "peak_pending": sampler.peak_pending,
        "peak_watching": sampler.peak_watching,
        "bot_ws_connections": connections,
        "chat_calls": dict(chat.calls),
        "failure_texts": chat.failure_texts[:5],
        "emulator_before": before,
        "emulator_after": after,
    }


async def wait_all_submitted(
    store: SqliteJobStore, ctl: httpx.AsyncClient, spec: dict[str, Any]
) -> list[Job]:
    """Wait (deadline: the phase timeout) until every job is ``submitted``.

    The emulator's submission counter is watched first: it is cheap, while reading
    10,000 jobs from the store would slow the bot being measured."""
    n = int(spec["n"])
    async with asyncio.timeout(spec["timeout"]):
        while True:
            stats = await control(ctl, spec, "GET", "/stats?completed=0")
            if stats["requests"].get("POST /api/generation/image", 0) >= n:
                break
            await asyncio.sleep(0.5)
        while True:
            jobs = await store.unfinished_jobs()
            if sum(job.state is JobState.SUBMITTED for job in jobs) >= n:
                return jobs
            await asyncio.sleep(0.5)


async def restart(spec: dict[str, Any], ctl: httpx.AsyncClient) -> dict[str, Any]:
    workdir = Path(spec["workdir"])
    db = workdir / "restart.db"
    n = int(spec["n"])
    await control(ctl, spec, "POST", "/config", {"manual_completion": True})
    rss_start = rss_mib()
    reset_peak_rss()
    chat1 = BenchChat(PLATFORM)
    async with wired(spec, db, chat1) as w:
        await w.bot.start()
        with Sampler(w) as sampler:
            t0 = time.monotonic()
            await submit_all(w.bot, spec)
            jobs = await wait_all_submitted(w.store, ctl, spec)
            all_submitted_s = time.monotonic() - t0
            in_flight = w.bot.pending
            watching = w.backend.watcher.pending
            held_sent_peak = peak_per_second(w.sends.status_sent)
        in_flight_rss = max(peak_rss_mib(), sampler.peak_rss)
    file_ids = [file_id for job in jobs for file_id in file_ids_of(job)]
    await control(ctl, spec, "POST", "/finish", {"file_ids": file_ids})
    before = await control(ctl, spec, "GET", "/stats")
    chat2 = BenchChat(PLATFORM)
    t_start = time.monotonic()
    async with wired(spec, db, chat2) as w2:
        resumed = await w2.bot.start()
        finished = await drain(w2.bot, spec["timeout"])
        done = await w2.store.unfinished_jobs()
        connections = w2.backend.watcher.connections
        reconcile_sent_peak = peak_per_second(w2.sends.status_sent)
    after = await control(ctl, spec, "GET", "/stats")
    last_post = max(chat2.posted_at.values(), default=float("nan"))
    return {
        "n": n,
        "all_submitted_s": all_submitted_s,
        "held_bot_peak_status_per_s": held_sent_peak,
        "reconcile_bot_peak_status_per_s": reconcile_sent_peak,
        "in_flight": in_flight,
        "watching": watching,
        "rss_start_mib": rss_start,
        "rss_in_flight_peak_mib": in_flight_rss,
        "resumed": resumed,
        "finished": finished,
        "posted": len(chat2.posted_at),
        "unfinished_after": len(done),
        "reconcile_s": last_post - t_start,
        "bot_ws_connections": connections,
        "emulator_before": {k: v for k, v in before.items() if k != "completed_at"},
        "emulator_after": {k: v for k, v in after.items() if k != "completed_at"},
    }


async def run(spec: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient() as ctl:
        if spec["phase"] == "throughput":
            return await throughput(spec, ctl)
        return await restart(spec, ctl)


def main(argv: list[str]) -> int:
    spec = json.loads(Path(argv[0]).read_text())
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    result = asyncio.run(run(spec))
    Path(argv[1]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
