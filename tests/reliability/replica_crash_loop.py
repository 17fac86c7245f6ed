"""The multi-replica crash loop: three ``imagine-bot run`` replicas share one PostgreSQL
database and serve Slack in HTTP mode; random replicas are killed with SIGKILL at seeded
moments while slash commands keep arriving, and restarted (some under the same
``IMAGINE_REPLICA_ID``, which takes its jobs back at once, some under a fresh one, whose
predecessor's jobs wait out their lease). At the end every command must have become one
job, posted exactly once or failed with a reason its requester was told; the service
must have started one generation per image; and the store's own history must show no
job advanced by two replicas at once.

Everything runs on loopback: a throwaway PostgreSQL cluster (or the one given), the
SuperDuper emulator and the fake Slack in this process, the replicas as real CLI child
processes. A seeded load balancer sends each command (signed like Slack signs it) to a
random replica; one sent to a dead replica (connection refused) is retried on another,
like a load balancer would. A command that a replica took but whose job never reached
the database before the kill is sent again, like a user repeating an unanswered
command — the test knows which from the database, once the dead replica's sessions are
gone from the server.

What is checked, and where from:

* exactly once: the image messages the fake Slack received per job (it does not
  deduplicate), in the job's own thread; one result button message per job; one job per
  command (``jobs``);
* failures: a stored reason, and the ``failed`` notice in the job's thread (or privately);
* one generation per image: the emulator's count of generations that were not
  ``Idempotency-Key`` replays, per prompt;
* one writer at a time: ``job_transitions`` (every write, by trigger, with the writing
  replica's id): each job's versions form one chain, every state change was written by
  the replica that held the job and only moved it forward, ownership changed only by a
  claim, and every write came from a replica process that was running then;
* takeover: for each kill, from the kill to the moment the last job the dead replica held
  was claimed (``job_transitions``), reported as min / median / max.

CI runs a short loop (``tests/reliability/test_replica_crash_loop.py``); run it long with::

    python -m tests.reliability.replica_crash_loop --jobs 300 --kills 40 [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import random
import re
import statistics
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import aiohttp
import asyncpg

from bot.jobs import Job, JobState
from emulator.superduper import Emulator
from storage import codec, sql, url_secrets
from storage.codec import Row
from tests.reliability.crash_loop import check_png
from tests.slack.fakes.slack_api import BOT_TOKEN, FakeSlack, Message
from tests.slack.fakes.slack_side import SIGNING_SECRET, HttpSlackSide, slash_payload
from tests.support.child import Child
from tests.support.harness import TOKEN, emulator_config
from tests.support.postgres import PostgresCluster

LISTENING = re.compile(r"listening for events on port (\d+)")
OBSERVER = "replica-loop-observer"
"""The ``application_name`` of this test's own database session (never a replica's)."""
RESULT_EVENT = "imagine_result"
RESULT_FILE = re.compile(r"imagine-(\w+)-1\.png")
"""The file name of a job's (single) image as the bot uploads it."""


@dataclass(frozen=True, slots=True)
class ReplicaLoopConfig:
    jobs: int = 24
    kills: int = 4
    replicas: int = 3
    seed: int = 1
    lease_seconds: float = 3.0
    """``IMAGINE_LEASE_SECONDS`` (its minimum): heartbeats every second, takeover in ~3 s."""
    kill_gap: tuple[float, float] = (0.8, 2.5)
    """Seconds between two kills, drawn uniformly; the commands are spread over the kills."""
    restart_delay: tuple[float, float] = (0.1, 6.0)
    """Seconds from a kill until its replica is started again (shorter and longer than
    the lease: the same id then takes its jobs back before or after the others can)."""
    gen_time: tuple[float, float] = (0.3, 1.0)
    failure_rate: float = 0.1
    """Share of generations the emulator fails (those jobs must end failed, told)."""
    users: int = 4
    channels: int = 3
    jobs_per_user: int = 3
    """``IMAGINE_MAX_JOBS_PER_USER``: the slots are global, so commands queue across replicas."""
    start_timeout: float = 60.0
    settle_timeout: float = 120.0
    """How long, after the last kill, every job may take to end."""


class Lifetime(Protocol):
    """A replica process as the history checks see it."""

    @property
    def replica_id(self) -> str: ...

    def ran_at(self, at: float) -> bool:
        """Whether it was running at ``at`` (wall clock, as the database's)."""
        ...


@dataclass(eq=False)
class Incarnation:
    """One replica process: its id, when it ran (wall clock, as the database's)."""

    slot: int
    replica_id: str
    child: Child
    started_at: float
    port: int = 0
    killed_at: float | None = None
    gone_at: float | None = None
    """When its database sessions had ended (no write of it can land later)."""
    stopping: bool = False
    reader: asyncio.Task[None] | None = None

    @property
    def serving(self) -> bool:
        return self.port > 0 and self.killed_at is None and not self.stopping

    def ran_at(self, at: float) -> bool:
        end = self.gone_at if self.gone_at is not None else math.inf
        return self.started_at <= at <= end


@dataclass
class Command:
    index: int
    prompt: str
    user: str
    channel: str
    sends: int = 0
    """Times the user sent it (1, plus one per repeat after a kill lost it)."""
    delivered_to: Incarnation | None = None
    """The replica that took (or may have taken) the last send."""
    sending_to: Incarnation | None = None
    """Where a send is under way (its answer not yet in)."""

    @property
    def text(self) -> str:
        return f"{self.prompt} --size 256x256 --seed {self.index}"


@dataclass
class Kill:
    replica_id: str
    at: float
    gone_at: float
    held: frozenset[str]
    """Unfinished jobs the killed replica held."""
    restart: str
    """``same id`` or ``fresh id``."""
    restarted_at: float | None = None
    takeover_s: float | None = None
    """Kill → the last of ``held`` claimed again."""
    taken_by: Counter[str] = field(default_factory=Counter)
    """How its jobs came back: ``another replica``, ``its restart (same id)``."""


@dataclass
class ReplicaReport:
    jobs: int
    replicas: int
    incarnations: int = 0
    kills: list[Kill] = field(default_factory=list)
    refused_sends: int = 0
    """Commands the load balancer sent to a dead replica and then to another one."""
    repeated_commands: int = 0
    """Commands sent again because a killed replica took them but stored no job."""
    final: Counter[str] = field(default_factory=Counter)
    image_messages: int = 0
    status_messages_without_a_job: int = 0
    """Status messages a replica posted before it was killed, whose thread the job's
    next holder did not learn of (it opened the thread anew)."""
    failures_told: int = 0
    generation_requests: int = 0
    deduplicated_requests: int = 0
    transitions: int = 0
    handovers: int = 0
    """Claims that moved a job to another replica id."""
    taken_from_running: int = 0
    """Handovers whose previous holder was still running (it had stalled past its lease)."""
    problems: list[str] = field(default_factory=list)
    outputs: list[tuple[str, str]] = field(default_factory=list, repr=False)
    """Each replica process's output (``replica-a-1#2``: its second process), for ``--logs``."""

    @property
    def takeovers(self) -> list[float]:
        return sorted(k.takeover_s for k in self.kills if k.takeover_s is not None)

    def summary(self) -> str:
        in_flight = sum(bool(k.held) for k in self.kills)
        same = sum(k.restart == "same id" for k in self.kills)
        paths: Counter[str] = Counter()
        for kill in self.kills:
            paths.update(kill.taken_by)
        times = self.takeovers
        takeover = (
            f"min {times[0]:.2f} s, median {statistics.median(times):.2f} s, "
            f"max {times[-1]:.2f} s over {len(times)} kills"
            if times
            else "no kill left jobs behind"
        )
        lines = [
            f"jobs: {self.jobs} commands over {self.replicas} replicas, replica processes: "
            f"{self.incarnations}, kill -9: {len(self.kills)} ({in_flight} with jobs in flight)",
            f"restarts: {same} under the same IMAGINE_REPLICA_ID, "
            f"{len(self.kills) - same} under a fresh one",
            f"load balancer: {self.refused_sends} sends refused by a dead replica and retried "
            f"on another; commands repeated after a kill lost them: {self.repeated_commands}",
            "final states: " + ", ".join(f"{k} {v}" for k, v in sorted(self.final.items())),
            f"image messages in Slack: {self.image_messages}; failed jobs told why: "
            f"{self.failures_told}",
            f"status messages left by a killed replica before it recorded them: "
            f"{self.status_messages_without_a_job}",
            f"generation requests: {self.generation_requests} "
            f"({self.deduplicated_requests} answered from an earlier request of the same job)",
            f"history: {self.transitions} transitions, {self.handovers} handovers between "
            f"replica ids, {self.taken_from_running} from a replica still running",
            f"takeover (kill → its last job claimed): {takeover}; jobs taken back by "
            + (", ".join(f"{k} {v}" for k, v in sorted(paths.items())) or "-"),
            "guarantees: " + ("all held" if not self.problems else f"{len(self.problems)} BROKEN"),
            *(f"  - {p}" for p in self.problems),
        ]
        return "\n".join(lines)


class Cluster:
    """The replicas, the load balancer in front of them, and the database as observed."""

    def __init__(
        self,
        config: ReplicaLoopConfig,
        database_url: str,
        emulator: Emulator,
        slack: FakeSlack,
        db: asyncpg.Connection,
        http: aiohttp.ClientSession,
        report: ReplicaReport,
    ) -> None:
        self.config = config
        self.database_url = database_url
        self.emulator = emulator
        self.slack = slack
        self.db = db
        self.http = http
        self.report = report
        self.rng = random.Random(f"{config.seed}:chaos")
        self.lb_rng = random.Random(f"{config.seed}:balancer")
        self.current: list[Incarnation | None] = [None] * config.replicas
        self.everyone: list[Incarnation] = []
        self.generations = [1] * config.replicas
        self.changed = asyncio.Condition()
        self.background: set[asyncio.Task[None]] = set()
        self.commands: list[Command] = []

    # -- replicas ----------------------------------------------------------------------

    def env(self, replica_id: str) -> dict[str, str]:
        return {
            "SUPERDUPER_URL": self.emulator.base_url,
            "SUPERDUPER_TOKEN": TOKEN,
            "SUPERDUPER_EXPECTED_GENERATION_TIME": "0.5",
            "SUPERDUPER_POLL_INTERVAL_MIN": "0.2",
            "SUPERDUPER_POLL_INTERVAL_CAP": "1",
            "SUPERDUPER_SAFETY_NET_POLL": "2",
            "SLACK_BOT_TOKEN": BOT_TOKEN,
            "SLACK_SIGNING_SECRET": SIGNING_SECRET,
            "SLACK_HTTP_PORT": "0",
            "SLACK_API_BASE": self.slack.api_base,
            "IMAGINE_DATABASE_URL": self.database_url,
            "IMAGINE_REPLICA_ID": replica_id,
            "IMAGINE_LEASE_SECONDS": f"{self.config.lease_seconds:g}",
            "IMAGINE_HEALTH_PORT": "0",
            "IMAGINE_LOG_LEVEL": "INFO",
            "IMAGINE_MAX_JOBS_PER_USER": str(self.config.jobs_per_user),
            "IMAGINE_SHUTDOWN_GRACE": "5",
        }

    def replica_id(self, slot: int) -> str:
        return f"replica-{chr(ord('a') + slot)}-{self.generations[slot]}"

    async def start(self, slot: int) -> Incarnation:
        replica_id = self.replica_id(slot)
        started_at = time.time()
        child = await Child.start("run", env=self.env(replica_id))
        inc = Incarnation(slot, replica_id, child, started_at)
        self.everyone.append(inc)
        self.current[slot] = inc
        self.report.incarnations += 1
        line = await child.expect("listening for events on port", self.config.start_timeout)
        match = LISTENING.search(line)
        assert match is not None, line
        inc.reader = asyncio.create_task(self._read(inc), name=f"read-{replica_id}")
        async with self.changed:
            inc.port = int(match.group(1))
            self.changed.notify_all()
        return inc

    async def _read(self, inc: Incarnation) -> None:
        stdout = inc.child.process.stdout
        assert stdout is not None
        while raw := await stdout.readline():
            inc.child.lines.append(raw.decode(errors="replace"))
        code = await inc.child.process.wait()
        if inc.killed_at is None and not inc.stopping:
            tail = "".join(inc.child.lines[-20:])
            self.report.problems.append(f"{inc.replica_id} exited by itself ({code}):\n{tail}")
            async with self.changed:
                inc.killed_at = inc.gone_at = time.time()
                self.changed.notify_all()

    def serving(self) -> list[Incarnation]:
        return [i for i in self.current if i is not None and i.serving]

    async def kill(self, inc: Incarnation, restart: str) -> Kill:
        async with self.changed:
            inc.child.process.kill()  # SIGKILL: no clean-up of any kind
            inc.killed_at = time.time()
            self.changed.notify_all()
        await inc.child.process.wait()
        await self.sessions_gone(inc.replica_id)
        inc.gone_at = time.time()
        rows = await self.db.fetch(
            f"SELECT id FROM jobs WHERE owner = $1 AND {sql.RESUMABLE}",  # noqa: S608
            inc.replica_id,
        )
        held = frozenset(str(r["id"]) for r in rows)
        return Kill(inc.replica_id, inc.killed_at, inc.gone_at, held, restart)

    async def victim(self) -> Incarnation:
        """A random serving replica, among those holding unfinished jobs if any do (so
        that the kill interrupts work)."""
        rows = await self.db.fetch(
            f"SELECT DISTINCT owner FROM jobs WHERE {sql.RESUMABLE}"  # noqa: S608
        )
        owners = {r["owner"] for r in rows}
        serving = self.serving()
        busy = [i for i in serving if i.replica_id in owners]
        return self.rng.choice(busy or serving)

    async def sessions_gone(self, replica_id: str, timeout: float = 30.0) -> None:
        """Until the server has ended every session of ``replica_id`` (the kernel closed its
        sockets; a statement the server was still running has then finished)."""
        async with asyncio.timeout(timeout):
            while True:
                if not await self.db.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = $1", replica_id
                ):
                    return
                await asyncio.sleep(0.02)

    async def restart_later(self, kill: Kill, slot: int, delay: float) -> None:
        await asyncio.sleep(delay)  # the seeded moment the orchestrator brings it back
        if kill.restart == "fresh id":
            self.generations[slot] += 1
        kill.restarted_at = time.time()
        await self.start(slot)

    async def stop_all(self) -> None:
        for inc in self.everyone:
            if inc.killed_at is None and inc.child.process.returncode is None:
                inc.stopping = True
                inc.child.process.terminate()
        for inc in self.everyone:
            code = await inc.child.process.wait()
            if inc.reader is not None:
                await inc.reader
            if inc.killed_at is None:
                if code != 0:
                    self.report.problems.append(f"{inc.replica_id} ended with {code} on SIGTERM")
                await self.sessions_gone(inc.replica_id)
                inc.gone_at = time.time()

    # -- the load balancer -------------------------------------------------------------

    def spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``coro`` in the background; its failure is a broken run, reported."""

        async def reported() -> None:
            try:
                await coro
            except Exception as exc:
                self.report.problems.append(f"{name} failed: {exc!r}")

        task = asyncio.create_task(reported(), name=name)
        self.background.add(task)
        task.add_done_callback(self.background.discard)

    async def send(self, command: Command) -> None:
        """The user sends the command; the balancer forwards it to a replica."""
        command.sends += 1
        refused: set[int] = set()
        while True:
            choices = [s for s in range(self.config.replicas) if s not in refused]
            if not choices:  # every replica refused: wait for one, as a balancer backs off
                await self._until_one_serves()
                await asyncio.sleep(0.05)
                refused.clear()
                continue
            slot = self.lb_rng.choice(choices)
            inc = self.current[slot]
            if inc is None or inc.port == 0:
                refused.add(slot)
                continue
            command.sending_to = inc
            try:
                status = await self._forward(command, inc)
            finally:
                async with self.changed:
                    command.sending_to = None
                    self.changed.notify_all()
            if status == "refused":
                self.report.refused_sends += 1
                refused.add(slot)
                continue
            command.delivered_to = inc
            return

    async def _forward(self, command: Command, inc: Incarnation) -> str:
        payload = slash_payload(
            self.slack,
            command.text,
            user=command.user,
            channel=command.channel,
            name=f"cmd-{command.index}-{command.sends}",
        )
        try:
            async with asyncio.timeout(15):
                ack = await HttpSlackSide(self.http, inc.port).slash(payload)
        except aiohttp.ClientConnectorError:
            return "refused"  # nothing listens there: it never reached a replica
        except (aiohttp.ClientError, TimeoutError):
            return "maybe"  # it may have reached the replica before it died
        if ack.status != 200:
            self.report.problems.append(
                f"{inc.replica_id} answered {command.prompt!r} with {ack.status}"
            )
        return "taken"

    async def _until_one_serves(self) -> None:
        async with self.changed:
            await self.changed.wait_for(lambda: bool(self.serving()))

    async def repeat_lost(self, dead: Incarnation) -> None:
        """Send again the commands ``dead`` took whose job it never stored (its sessions
        are gone: nothing it sent can still arrive)."""
        async with asyncio.timeout(30), self.changed:
            await self.changed.wait_for(
                lambda: not any(c.sending_to is dead for c in self.commands)
            )
        stored = await self.stored_prompts()
        for command in self.commands:
            if command.delivered_to is dead and command.prompt not in stored:
                command.delivered_to = None
                self.report.repeated_commands += 1
                self.spawn(self.send(command), f"send-{command.index}")

    # -- the database ------------------------------------------------------------------

    async def stored_prompts(self) -> Counter[str]:
        rows = await self.db.fetch("SELECT prompt FROM jobs")
        return Counter(str(r["prompt"]) for r in rows)

    async def jobs(self) -> list[Job]:
        rows = await self.db.fetch(
            f"SELECT * FROM jobs WHERE state <> '{sql.QUARANTINED}' ORDER BY created_at, rowid"  # noqa: S608
        )
        return [codec.job_from_row(r) for r in rows]


async def run_replica_loop(
    config: ReplicaLoopConfig, database_url: str | None = None
) -> ReplicaReport:
    """Run the loop on ``database_url`` (an empty database; default: a throwaway cluster
    of this process's own) and return what it counted."""
    if database_url is not None:
        return await _run(config, database_url)
    cluster = PostgresCluster.start()
    try:
        return await _run(config, await cluster.create_database())
    finally:
        cluster.stop()


async def _run(config: ReplicaLoopConfig, database_url: str) -> ReplicaReport:
    report = ReplicaReport(jobs=config.jobs, replicas=config.replicas)
    send_rng = random.Random(f"{config.seed}:commands")
    emulator_settings = emulator_config(
        gen_time=config.gen_time, failure_rate=config.failure_rate, seed=config.seed
    )
    db = await asyncpg.connect(database_url, server_settings={"application_name": OBSERVER})
    try:
        async with (
            Emulator(emulator_settings) as emulator,
            FakeSlack() as slack,
            aiohttp.ClientSession() as http,
        ):
            cluster = Cluster(config, database_url, emulator, slack, db, http, report)
            cluster.commands = [
                Command(i, f"replica loop job {i}", f"U{i % config.users + 1}",
                        f"C{i % config.channels + 1}")
                for i in range(config.jobs)
            ]  # fmt: skip
            try:
                await _drive(cluster, send_rng)
                await _settle(cluster)
            finally:
                for task in list(cluster.background):
                    task.cancel()
                await asyncio.gather(*cluster.background, return_exceptions=True)
                await cluster.stop_all()
            await check(cluster)
            seen: Counter[str] = Counter()
            for inc in cluster.everyone:
                seen[inc.replica_id] += 1
                report.outputs.append(
                    (f"{inc.replica_id}#{seen[inc.replica_id]}", inc.child.output)
                )
    finally:
        await db.close()
    return report


async def _drive(cluster: Cluster, send_rng: random.Random) -> None:
    """Start the replicas, then send the commands while killing and restarting replicas."""
    config = cluster.config
    await asyncio.gather(*(cluster.start(slot) for slot in range(config.replicas)))
    gaps = [cluster.rng.uniform(*config.kill_gap) for _ in range(config.kills)]
    window = sum(gaps) or 1.0
    paths = ["same id", "fresh id"] * math.ceil(config.kills / 2)
    cluster.rng.shuffle(paths)

    async def send_all() -> None:
        for command in cluster.commands:
            await asyncio.sleep(send_rng.uniform(0, 2 * window / config.jobs))  # the pace
            cluster.spawn(cluster.send(command), f"send-{command.index}")

    async def chaos() -> None:
        for n, gap in enumerate(gaps):
            await asyncio.sleep(gap)  # the seeded kill moment
            async with cluster.changed:  # keep one replica to take over
                await cluster.changed.wait_for(lambda: len(cluster.serving()) >= 2)
            victim = await cluster.victim()
            kill = await cluster.kill(victim, paths[n])
            cluster.report.kills.append(kill)
            await cluster.repeat_lost(victim)
            delay = cluster.rng.uniform(*config.restart_delay)
            cluster.spawn(cluster.restart_later(kill, victim.slot, delay), f"restart-{n}")

    await asyncio.gather(send_all(), chaos())


async def _settle(cluster: Cluster) -> None:
    """Until every command became a job and every job ended (and was told), repeating
    the commands a killed replica lost; every killed replica is running again by then."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + cluster.config.settle_timeout
    while True:
        restarting = any(
            not t.done() and t.get_name().startswith("restart") for t in cluster.background
        )
        stored = await cluster.stored_prompts()
        jobs = await cluster.jobs()
        unsent = [c for c in cluster.commands if c.prompt not in stored]
        open_jobs = [j for j in jobs if not j.state.terminal or not j.notified]
        dead = {
            c.delivered_to
            for c in unsent
            if c.delivered_to is not None and c.delivered_to.gone_at is not None
        }
        for incarnation in dead:
            await cluster.repeat_lost(incarnation)
        if not unsent and not open_jobs and not restarting and not cluster.background:
            return
        if loop.time() > deadline:
            cluster.report.problems.append(
                f"after {cluster.config.settle_timeout:.0f} s: {len(unsent)} command(s) never "
                f"stored, {len(open_jobs)} job(s) not ended: "
                + ", ".join(f"{j.id} {j.state.value} owner?" for j in open_jobs[:10])
            )
            return
        await asyncio.sleep(0.1)


# -- the checks ------------------------------------------------------------------------


async def check(cluster: Cluster) -> None:
    report = cluster.report
    jobs = await cluster.jobs()
    check_commands(report, cluster.commands, jobs)
    check_slack(report, cluster.slack, jobs)
    check_generations(report, cluster.emulator, cluster.commands)
    history = await cluster.db.fetch("SELECT * FROM job_transitions ORDER BY seq")
    check_history(report, history, cluster.everyone, {j.id: j.created_at for j in jobs})
    measure_takeovers(report, history)
    check_secrets(report, cluster)


def check_commands(report: ReplicaReport, commands: Sequence[Command], jobs: list[Job]) -> None:
    by_prompt = Counter(job.params.prompt for job in jobs)
    for command in commands:
        if by_prompt[command.prompt] != 1:
            report.problems.append(f"{command.prompt!r} became {by_prompt[command.prompt]} jobs")
    if len(jobs) != len(commands):
        report.problems.append(f"{len(commands)} commands became {len(jobs)} jobs")


def check_slack(report: ReplicaReport, slack: FakeSlack, jobs: list[Job]) -> None:
    """What people saw: one image per posted job, in its thread; failures explained."""
    images: dict[str, list[Message]] = defaultdict(list)
    buttons: Counter[str] = Counter()
    for message in slack.messages:
        for file_id in message.files:
            if m := RESULT_FILE.fullmatch(slack.files[file_id].name):
                images[m.group(1)].append(message)
        payload = (message.metadata or {}).get("event_payload") or {}
        if (message.metadata or {}).get("event_type") == RESULT_EVENT:
            buttons[str(payload.get("dedupe_key"))] += 1
    report.image_messages = sum(len(v) for v in images.values())
    for stored in slack.files.values():
        if stored.deleted and RESULT_FILE.fullmatch(stored.name):
            report.problems.append(f"{stored.name} was shared, then taken away again")
    known = {job.id for job in jobs}
    for job_id in sorted(set(images) - known):
        report.problems.append(f"images of an unknown job {job_id} were posted")
    threads = {job.thread for job in jobs}
    report.status_messages_without_a_job = sum(
        1
        for m in slack.messages
        if m.thread_ts is None and "job `" in m.text and m.ts not in threads
    )
    for job in jobs:
        report.final[job.state.value] += 1
        posted = images.get(job.id, [])
        if job.state is JobState.POSTED:
            if len(posted) != 1:
                report.problems.append(f"job {job.id} was posted {len(posted)} times")
            for message in posted:
                [image] = [slack.files[f] for f in message.files]
                check_png(image.data or b"", image.name, job, report.problems)
            if any(m.channel != job.channel or m.thread_ts != job.thread for m in posted):
                report.problems.append(f"job {job.id}'s image is not in its thread")
            if buttons[f"{job.id}:0"] != 1:
                report.problems.append(f"job {job.id} has {buttons[f'{job.id}:0']} button messages")
            if not job.notified:
                report.problems.append(f"job {job.id} is posted but not marked told")
        elif job.state in (JobState.FAILED, JobState.TIMED_OUT):
            if posted:
                report.problems.append(f"job {job.id} ended {job.state.value} yet was posted")
            if not job.error:
                report.problems.append(f"job {job.id} ended {job.state.value} without a reason")
            if told_of_failure(slack, job):
                report.failures_told += 1
            else:
                report.problems.append(f"job {job.id} ended {job.state.value}; nobody was told")
        else:
            report.problems.append(f"job {job.id} ended {job.state.value}: {job.error}")


def told_of_failure(slack: FakeSlack, job: Job) -> bool:
    needle = f"Job `{job.id}` " + ("failed" if job.state is JobState.FAILED else "gave up")
    in_thread = any(
        needle in m.text for m in slack.messages if m.channel == job.channel and
        m.thread_ts == job.thread
    )  # fmt: skip
    privately = any(
        needle in e.text for e in slack.ephemerals if e.user == job.requester_id
    ) or any(needle in str(body.get("text", "")) for _, body in slack.responses)
    return in_thread or privately


def check_generations(
    report: ReplicaReport, emulator: Emulator, commands: Sequence[Command]
) -> None:
    counters = emulator.counters
    report.generation_requests = counters.requests["POST /api/generation/image"]
    report.deduplicated_requests = counters.deduplicated_generations
    for command in commands:
        started = counters.generations[command.prompt]
        if started != 1:
            report.problems.append(f"{command.prompt!r} started {started} generations")


def _by_job(history: Sequence[Row]) -> dict[str, list[Row]]:
    steps: dict[str, list[Row]] = defaultdict(list)
    for row in history:
        steps[row["job_id"]].append(row)
    return steps


def _ran(everyone: Sequence[Lifetime], replica_id: str, at: float) -> bool:
    return any(i.replica_id == replica_id and i.ran_at(at) for i in everyone)


def check_history(
    report: ReplicaReport,
    history: Sequence[Row],
    everyone: Sequence[Lifetime],
    created_at: Mapping[str, float],
) -> None:
    """One writer at a time, from the store's own record of every write."""
    report.transitions = len(history)
    problems = report.problems
    for job_id, steps in _by_job(history).items():
        versions = [(s["old_version"], s["new_version"]) for s in steps]
        chain = [(v, v + 1) for v in range(1, len(steps) + 1)]
        if versions != chain:
            problems.append(f"job {job_id}: versions {versions} are not one chain")
        for n, s in enumerate(steps):
            at = s["at"].timestamp()
            where = f"job {job_id} v{s['new_version']} by {s['writer']}"
            if s["writer"] != s["new_owner"]:
                problems.append(f"{where}: written for {s['new_owner']}")
            if not _ran(everyone, s["writer"], at):
                problems.append(f"{where}: no process of that replica was running")
            old, new = JobState(s["old_state"]), JobState(s["new_state"])
            if s["old_owner"] != s["new_owner"]:  # a claim: ownership moves, nothing else
                if old is not new:
                    problems.append(f"{where}: took the job from {s['old_owner']} and moved it")
                report.handovers += 1
                held_since = steps[n - 1]["at"].timestamp() if n else created_at.get(job_id, at)
                holder = next(
                    (
                        i
                        for i in everyone
                        if i.replica_id == s["old_owner"] and i.ran_at(held_since)
                    ),
                    None,
                )
                if holder is not None and holder.ran_at(at):
                    report.taken_from_running += 1  # it had stalled past its lease
            elif new.rank < old.rank or (old.terminal and new is not old):
                problems.append(f"{where}: {old.value} → {new.value} goes backwards")


def measure_takeovers(report: ReplicaReport, history: Sequence[Row]) -> None:
    """Kill → the moment the last job the dead replica held was claimed again."""
    steps = _by_job(history)
    for kill in report.kills:
        restarted = kill.restarted_at if kill.restart == "same id" else None
        last = 0.0
        for job_id in kill.held:
            claim = next(
                (
                    s
                    for s in steps.get(job_id, [])
                    if s["at"].timestamp() > kill.gone_at
                    and s["old_owner"] == kill.replica_id
                    and s["old_state"] == s["new_state"]
                    and (
                        s["writer"] != kill.replica_id
                        or (restarted is not None and s["at"].timestamp() >= restarted)
                    )
                ),
                None,
            )
            if claim is None:
                report.problems.append(
                    f"job {job_id} of killed {kill.replica_id} was never taken over"
                )
                continue
            by_restart = claim["writer"] == kill.replica_id
            kill.taken_by["its restart (same id)" if by_restart else "another replica"] += 1
            last = max(last, claim["at"].timestamp() - kill.at)
        if kill.held and sum(kill.taken_by.values()) == len(kill.held):
            kill.takeover_s = last


def check_secrets(report: ReplicaReport, cluster: Cluster) -> None:
    output = "".join(inc.child.output for inc in cluster.everyone)
    secrets = {
        "the Slack bot token": BOT_TOKEN,
        "the signing secret": SIGNING_SECRET,
        "the service token": TOKEN,
    }
    for secret in url_secrets(cluster.database_url):
        secrets[f"the database password ({len(secret)} characters)"] = secret
    for name, secret in secrets.items():
        if secret in output:
            report.problems.append(f"{name} appears in a replica's output")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.replica_crash_loop",
        description=(__doc__ or "").split("\n\n")[0],
    )
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument(
        "--database-url", default=None, help="an empty database (default: a throwaway cluster)"
    )
    parser.add_argument("--logs", type=Path, default=None, help="write each replica's output here")
    args = parser.parse_args(argv)
    config = ReplicaLoopConfig(
        jobs=args.jobs, kills=args.kills, seed=args.seed, failure_rate=args.failure_rate
    )
    started = time.monotonic()
    report = asyncio.run(run_replica_loop(config, args.database_url))
    print(report.summary())
    if args.logs is not None:
        args.logs.mkdir(parents=True, exist_ok=True)
        for name, text in report.outputs:
            (args.logs / f"{name}.log").write_text(text)
        print(f"replica logs: {args.logs}")
    print(f"took {time.monotonic() - started:.0f} s")
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
