"""The crash-restart loop: ``imagine-bot console`` is killed with SIGKILL at seeded random
moments while it works through a batch of /imagine jobs, and restarted until every job is
terminal. Then every job must have been posted exactly once, or have failed with a reason.

The emulator runs in this process on loopback; the bot is the real CLI in a child process
with its own SQLite file. Commands the killed bot never read are typed again into the next
one (the test knows which from the database), like a user repeating an unanswered command.

CI runs a short loop (``tests/reliability/test_crash_loop.py``); run it long with::

    python -m tests.reliability.crash_loop --jobs 300 --kills 40 [--seed N]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import random
import re
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from PIL import Image

from bot.jobs import ChannelKey, Job, JobState
from emulator.superduper import Emulator
from storage import SqliteJobStore
from tests.support.child import Child
from tests.support.harness import TOKEN, emulator_config

USER = "crash"
CONSOLE_CHANNEL = ChannelKey("console", "local", "general")
JOB_ID = re.compile(r"job `(\w+)`")
SAVED = re.compile(r"saved: (\S+)")
BANNER = "imagine-bot console —"


@dataclass(frozen=True, slots=True)
class CrashLoopConfig:
    jobs: int = 24
    kills: int = 4
    seed: int = 1
    max_kill_delay: float = 1.2
    """A kill comes uniformly 0.05..this many seconds after the bot printed its banner."""
    gen_time: tuple[float, float] = (0.3, 1.0)
    failure_rate: float = 0.1
    """Share of generations the emulator fails (those jobs must end failed, with a reason)."""
    jobs_per_user: int = 6
    incarnation_timeout: float = 90.0


@dataclass
class CrashReport:
    jobs: int
    kills: int = 0
    kills_in_flight: int = 0
    """Kills after which the database held unfinished jobs (the kill interrupted work)."""
    incarnations: int = 0
    retyped_commands: int = 0
    interrupted: Counter[str] = field(default_factory=Counter)
    """States of the unfinished jobs found after each kill."""
    final: Counter[str] = field(default_factory=Counter)
    images: int = 0
    failures_without_visible_message: int = 0
    generation_requests: int = 0
    """Generation requests the service received (repeats with a known Idempotency-Key
    included); each job must have started exactly one generation."""
    deduplicated_requests: int = 0
    """Requests the service answered from an earlier request of the same job (a resume)."""
    problems: list[str] = field(default_factory=list)
    """Every broken guarantee, one line each; empty when all held."""

    def summary(self) -> str:
        lines = [
            f"jobs: {self.jobs}, bot processes: {self.incarnations}, "
            f"kill -9: {self.kills} ({self.kills_in_flight} with jobs in flight)",
            f"commands typed again after a kill: {self.retyped_commands}",
            "unfinished jobs found after kills, by state: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.interrupted.items())) or "none"),
            "final states: " + ", ".join(f"{k} {v}" for k, v in sorted(self.final.items())),
            f"image files: {self.images}",
            f"failed jobs whose message never reached the user: "
            f"{self.failures_without_visible_message}",
            f"generation requests: {self.generation_requests} "
            f"({self.deduplicated_requests} answered from an earlier request of the same job)",
            "guarantees: " + ("all held" if not self.problems else f"{len(self.problems)} BROKEN"),
            *(f"  - {p}" for p in self.problems),
        ]
        return "\n".join(lines)


async def run_crash_loop(config: CrashLoopConfig, workdir: Path) -> CrashReport:
    """Run the loop in ``workdir`` (database and images go there); return the counts."""
    rng = random.Random(config.seed)
    report = CrashReport(jobs=config.jobs)
    db = workdir / "bot.db"
    output_dir = workdir / "out"
    prompts = [f"crash loop job {i}" for i in range(config.jobs)]
    outputs: list[str] = []
    emulator_settings = emulator_config(
        gen_time=config.gen_time, failure_rate=config.failure_rate, seed=config.seed
    )
    async with Emulator(emulator_settings) as emulator:
        env = {
            "SUPERDUPER_URL": emulator.base_url,
            "SUPERDUPER_TOKEN": TOKEN,
            "IMAGINE_DB_PATH": str(db),
            "IMAGINE_OUTPUT_DIR": str(output_dir),
            "IMAGINE_MAX_JOBS_PER_USER": str(config.jobs_per_user),
        }
        while True:
            jobs = await jobs_on_disk(db, outputs)
            known = {job.params.prompt for job in jobs.values()}
            unsent = [p for p in prompts if p not in known]
            unfinished = [j for j in jobs.values() if not j.state.terminal]
            if not unsent and not unfinished:
                break
            if report.incarnations >= config.kills + 5:
                report.problems.append(
                    f"still {len(unsent)} unread command(s) and {len(unfinished)} unfinished "
                    f"job(s) after {report.incarnations} bot processes"
                )
                break
            if report.incarnations:
                report.retyped_commands += len(unsent)
            report.incarnations += 1
            child = await Child.start("console", "--user", USER, env=env)
            for prompt in unsent:
                await child.send(f"/imagine {prompt} --seed {prompts.index(prompt)}")
            assert child.process.stdin is not None
            try:
                await child.expect(BANNER, timeout=config.incarnation_timeout)
                if report.kills < config.kills:
                    if not await run_then_kill(child, rng.uniform(0.05, config.max_kill_delay)):
                        outputs.append(child.output)
                        continue  # it finished everything before the kill moment
                    report.kills += 1
                    after = await jobs_on_disk(db, [*outputs, child.output])
                    left = [j for j in after.values() if not j.state.terminal]
                    report.interrupted.update(j.state.value for j in left)
                    report.kills_in_flight += bool(left)
                else:
                    code = await child.finish(timeout=config.incarnation_timeout)
                    if code != 0:
                        report.problems.append(f"the last bot exited with {code}")
            except (AssertionError, TimeoutError) as exc:
                report.problems.append(f"bot process {report.incarnations}: {exc!r}")
                if child.process.returncode is None:
                    await child.kill()
            outputs.append(child.output)
        await check_guarantees(report, db, output_dir, prompts, outputs)
        check_generations(report, emulator, prompts)
    return report


def check_generations(report: CrashReport, emulator: Emulator, prompts: list[str]) -> None:
    """One generation per job (each job here is one image), whatever the kills did."""
    counters = emulator.counters
    report.generation_requests = counters.requests["POST /api/generation/image"]
    report.deduplicated_requests = counters.deduplicated_generations
    for prompt in prompts:
        started = counters.generations[prompt]
        if started != 1:
            report.problems.append(f"{prompt!r} started {started} generations")


async def run_then_kill(child: Child, delay: float) -> bool:
    """Let the bot work for ``delay`` seconds (reading its output), then SIGKILL it.
    False when it exited by itself first."""
    assert child.process.stdin is not None and child.process.stdout is not None
    child.process.stdin.close()  # EOF: the console drains its jobs, then exits by itself
    stdout = child.process.stdout

    async def read_all() -> None:
        while raw := await stdout.readline():
            child.lines.append(raw.decode(errors="replace"))

    reader = asyncio.create_task(read_all())
    done, _ = await asyncio.wait({reader}, timeout=delay)  # the seeded kill moment
    if not done:
        await child.kill()
    await reader
    return not done


async def jobs_on_disk(db: Path, outputs: list[str]) -> dict[str, Job]:
    """Every job in the bot's database, by id. Ids come from the status lines the bots
    printed plus the unfinished jobs (a job killed before its status line is unfinished)."""
    if not db.exists():
        return {}
    store = await SqliteJobStore.open(db)
    try:
        ids = {m for text in outputs for m in JOB_ID.findall(text)}
        jobs = {job.id: job for job in await store.unfinished_jobs()}
        for job_id in ids - set(jobs):
            job = await store.get_job(job_id)
            if job is not None:
                jobs[job.id] = job
        return jobs
    finally:
        await store.aclose()


async def check_guarantees(
    report: CrashReport, db: Path, output_dir: Path, prompts: list[str], outputs: list[str]
) -> None:
    problems = report.problems
    jobs = await jobs_on_disk(db, outputs)
    store = await SqliteJobStore.open(db)
    try:
        total = await store.count_jobs_since(CONSOLE_CHANNEL, USER, 0.0)
    finally:
        await store.aclose()
    by_prompt = Counter(job.params.prompt for job in jobs.values())
    if total != len(prompts) or len(jobs) != len(prompts):
        problems.append(f"{len(prompts)} commands became {total} stored jobs ({len(jobs)} seen)")
    for prompt in prompts:
        if by_prompt[prompt] != 1:
            problems.append(f"{prompt!r} has {by_prompt[prompt]} jobs")
    files = sorted(p.name for p in output_dir.iterdir()) if output_dir.exists() else []
    report.images = len(files)
    expected_files: set[str] = set()
    announced = Counter(Path(m).name for text in outputs for m in SAVED.findall(text))
    everything = "".join(outputs)
    for job in jobs.values():
        report.final[job.state.value] += 1
        if job.state is JobState.POSTED:
            names = [f"{job.id}-{i}.png" for i in range(job.params.count)]
            expected_files.update(names)
            if job.posted_message_ids != tuple(f"image:{n}" for n in names):
                problems.append(f"job {job.id} recorded posts {job.posted_message_ids}")
            for name in names:
                check_image(output_dir / name, job, problems)
                if announced[name] > 1:
                    problems.append(f"{name} was announced {announced[name]} times")
        elif job.state in (JobState.FAILED, JobState.TIMED_OUT):
            if not job.error:
                problems.append(f"job {job.id} ended {job.state.value} without a reason")
            told = f"Job `{job.id}` failed" if job.state is JobState.FAILED else "gave up"
            if not any(told in line and job.id in line for line in everything.splitlines()):
                report.failures_without_visible_message += 1
                problems.append(f"job {job.id} ended {job.state.value} but nobody was told")
            elif not job.notified:
                problems.append(f"job {job.id} was told of its ending but is not marked so")
        else:
            problems.append(f"job {job.id} ended {job.state.value}: {job.error}")
    strays = sorted(set(files) - expected_files)
    if strays:
        problems.append(f"unexpected files in the output folder: {strays[:10]}")


def check_image(path: Path, job: Job, problems: list[str]) -> None:
    check_png(path.read_bytes(), path.name, job, problems)


def check_png(data: bytes, name: str, job: Job, problems: list[str]) -> None:
    """``data`` (the file ``name``) is a readable PNG of the size ``job`` asked for."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as image:
            image.load()
            size = image.size
    except (OSError, ValueError) as exc:
        problems.append(f"{name} is not a readable PNG: {exc}")
        return
    if size != (job.params.width, job.params.height):
        problems.append(f"{name} is {size}, job {job.id} asked for a different size")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tests.reliability.crash_loop", description=__doc__.split("\n\n")[0]
    )
    parser.add_argument("--jobs", type=int, default=300)
    parser.add_argument("--kills", type=int, default=40)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--max-kill-delay", type=float, default=1.2)
    parser.add_argument("--failure-rate", type=float, default=0.1)
    parser.add_argument("--jobs-per-user", type=int, default=5)
    args = parser.parse_args(argv)
    config = CrashLoopConfig(
        jobs=args.jobs,
        kills=args.kills,
        seed=args.seed,
        max_kill_delay=args.max_kill_delay,
        failure_rate=args.failure_rate,
        jobs_per_user=args.jobs_per_user,
    )
    with tempfile.TemporaryDirectory(prefix="imagine-crash-loop-") as workdir:
        report = asyncio.run(run_crash_loop(config, Path(workdir)))
    print(report.summary())
    return 1 if report.problems else 0


if __name__ == "__main__":
    sys.exit(main())
