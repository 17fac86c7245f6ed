"""Replicas mode: completions per second of one vs two bot replicas on PostgreSQL on the
burst profile, and CPU per job on PostgreSQL vs SQLite.

``python -m bench.replicas [--n 1000] [--repeat 3]`` writes ``bench/results/replicas.json``
and ``docs/benchmarks-replicas.md`` (a page of its own: ``docs/benchmarks.md`` is
``python -m bench``'s); ``--report`` renders the page again from the JSON.

Each run is one burst: N ``/imagine`` commands issued at once, the run ends when every
job has ended. Three set-ups, interleaved so that drift on the machine hits each alike:

* ``sqlite``: one bot process on a SQLite file;
* ``postgres-1``: one replica on PostgreSQL (a fresh database);
* ``postgres-2``: two replicas on one fresh PostgreSQL database, each given every other
  command (a perfectly even load balancer), both bursts starting together.

A replica is the production composition (``app.runtime.open_runtime``: the shared HTTP
client, the real ``SuperDuperBackend``, the store ``imagine-bot run`` opens, default
lease and heartbeat) with the benchmark's recording chat (``bench/chat.py``), in its own
process (``python -m bench.replicas worker SPEC RESULT``); the emulator runs in another
(``bench/emulator_proc.py``, the ``fast`` profile's 2-4 s generations, a fresh one per
run), and PostgreSQL is a throwaway cluster with fsync on. *Jobs/s* is N over the time
from the go signal to the last job ended (on any replica; CLOCK_MONOTONIC is
system-wide); *CPU/job* is the replicas' CPU (user + system, every thread) from the go
signal to the end, over N; *server CPU/job* is PostgreSQL's (the postmaster and its
children) over the same span; *added latency* is the emulator completing a file to the
chat receiving its image.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import httpx
from pydantic import SecretStr

from app.backends import superduper_spec
from app.runtime import open_runtime
from app.stores import StoreSettings
from bench.bot_proc import (
    PLATFORM,
    bot_config,
    drain,
    invocation,
    posted_by_file,
    service_settings,
)
from bench.chat import BenchChat
from bench.machine import machine_info
from bench.orchestrate import NEW, REPO, EmulatorProcess
from bench.procstat import cpu_seconds
from bench.profiles import FAST, Profile
from bench.stats import added_latencies_ms, latency_summary
from bench.store_cost import server_cpu
from tests.support.postgres import PostgresCluster

RESULTS = REPO / "bench" / "results" / "replicas.json"
MARKDOWN = REPO / "docs" / "benchmarks-replicas.md"
TITLE = "# Benchmark: one vs two replicas on PostgreSQL, and CPU per job on PostgreSQL vs SQLite"


@dataclass(frozen=True, slots=True)
class SetUp:
    key: str
    title: str
    store: str
    """``sqlite`` or ``postgres``."""
    replicas: int


SETUPS = (
    SetUp("sqlite", "SQLite, one process", "sqlite", 1),
    SetUp("postgres-1", "PostgreSQL, one replica", "postgres", 1),
    SetUp("postgres-2", "PostgreSQL, two replicas", "postgres", 2),
)


# -- a replica (child process) ------------------------------------------------------------


async def replica(spec: dict[str, Any]) -> dict[str, Any]:
    """Open the store and the bot, say ``ready``, wait for ``go`` on stdin, then issue
    this replica's share of the burst and wait until all of it ended."""
    if spec["store"] == "sqlite":
        store = StoreSettings(db_path=Path(spec["db_path"]))
    else:
        store = StoreSettings(
            database_url=SecretStr(spec["database_url"]), replica_id=spec["owner"]
        )
    chat = BenchChat(PLATFORM)
    mine = range(spec["index"], spec["n"], spec["replicas"])
    backend = superduper_spec(service_settings(spec))
    async with open_runtime([backend], store, bot_config(spec)) as rt:
        rt.bot.add_chat(chat)
        await rt.bot.start()
        print("ready", flush=True)
        if (await asyncio.to_thread(sys.stdin.readline)).strip() != "go":
            raise SystemExit("no go signal")
        cpu0, t0 = cpu_seconds(), time.monotonic()
        ids = await asyncio.gather(
            *(rt.bot.imagine(invocation(i, spec["channels"], spec["users"])) for i in mine)
        )
        accepted_at = time.monotonic()
        finished = await drain(rt.bot, spec["timeout"])
        t1, cpu1 = time.monotonic(), cpu_seconds()
        jobs = [job for job_id in ids if job_id and (job := await rt.store.get_job(job_id))]
    return {
        "issued": len(mine),
        "accepted": sum(1 for job_id in ids if job_id),
        "finished": finished,
        "states": dict(Counter(job.state.value for job in jobs)),
        "t0": t0,
        "accepted_at": accepted_at,
        "t1": t1,
        "cpu_s": cpu1 - cpu0,
        "posted_at": posted_by_file(jobs, chat),
        "failure_texts": chat.failure_texts[:3],
    }


def replica_main(spec_path: str, result_path: str) -> int:
    spec = json.loads(Path(spec_path).read_text())
    result = asyncio.run(replica(spec))
    Path(result_path).write_text(json.dumps(result))
    return 0


# -- one run: the emulator, the replicas, the go signal -------------------------------------


def run_once(
    setup: SetUp,
    n: int,
    profile: Profile,
    cluster: PostgresCluster,
    workdir: Path,
    timeout: float,
    seed: int,
) -> dict[str, Any]:
    knobs = {"gen_time": list(profile.gen_time), "seed": seed, "image_side": 256}
    database_url = asyncio.run(cluster.create_database()) if setup.store == "postgres" else ""
    with (workdir / "log.txt").open("a") as log:
        emulator = EmulatorProcess(knobs, log)
        try:
            spec: dict[str, Any] = {
                **emulator.endpoints,
                "client": profile.client,
                "n": n,
                "channels": 20,
                "users": 100,
                "image_side": 256,
                "timeout": timeout,
                "store": setup.store,
                "replicas": setup.replicas,
                "db_path": str(workdir / f"{setup.key}-{seed}.db"),
                "database_url": database_url,
            }
            raw = _burst(spec, setup, workdir, cluster, log)
        finally:
            emulator.stop()
    return summarize(setup, n, raw)


def _burst(
    spec: dict[str, Any], setup: SetUp, workdir: Path, cluster: PostgresCluster, log: IO[str]
) -> dict[str, Any]:
    processes: list[tuple[subprocess.Popen[str], Path]] = []
    try:
        for index in range(setup.replicas):
            mine = {**spec, "index": index, "owner": f"bench-replica-{index}"}
            spec_path = workdir / f"{setup.key}-{index}-spec.json"
            result_path = workdir / f"{setup.key}-{index}-result.json"
            spec_path.write_text(json.dumps(mine))
            process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
                [
                    sys.executable,
                    "-m",
                    "bench.replicas",
                    "worker",
                    str(spec_path),
                    str(result_path),
                ],
                cwd=REPO,
                env=NEW.env(),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
            )
            processes.append((process, result_path))
        for process, _ in processes:
            assert process.stdout is not None
            if process.stdout.readline().strip() != "ready":
                raise RuntimeError(f"a {setup.key} replica did not start (see {workdir}/log.txt)")
        before = _stats(spec, completed=False)
        server0 = server_cpu(cluster.postmaster_pid) if setup.store == "postgres" else 0.0
        for process, _ in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        for process, _ in processes:
            if process.wait(timeout=spec["timeout"] * 2 + 60) != 0:
                raise RuntimeError(f"a {setup.key} replica failed (see {workdir}/log.txt)")
        server = (server_cpu(cluster.postmaster_pid) - server0) if setup.store == "postgres" else 0
        after = _stats(spec, completed=True)
    finally:
        for process, _ in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
            for pipe in (process.stdin, process.stdout):
                if pipe is not None:
                    pipe.close()
    replicas = [json.loads(path.read_text()) for _, path in processes]
    return {"replicas": replicas, "server_cpu_s": server, "before": before, "after": after}


def _stats(spec: dict[str, Any], *, completed: bool) -> Any:
    """The emulator's counters (and, with ``completed``, when each file completed)."""
    params = {} if completed else {"completed": "0"}
    response = httpx.get(spec["control_url"] + "/stats", params=params, timeout=60)
    response.raise_for_status()
    return response.json()


def summarize(setup: SetUp, n: int, raw: dict[str, Any]) -> dict[str, Any]:
    replicas = raw["replicas"]
    start = min(r["t0"] for r in replicas)
    wall = max(r["t1"] for r in replicas) - start
    states: Counter[str] = Counter()
    posted_at: dict[str, float] = {}
    for r in replicas:
        states.update(r["states"])
        posted_at.update(r["posted_at"])
    latency = latency_summary(added_latencies_ms(posted_at, raw["after"]["completed_at"]))
    generations = raw["after"]["requests"].get("POST /api/generation/image", 0) - raw["before"][
        "requests"
    ].get("POST /api/generation/image", 0)
    return {
        "setup": setup.key,
        "n": n,
        "replicas": setup.replicas,
        "posted": states.get("posted", 0),
        "states": dict(states),
        "finished": all(r["finished"] for r in replicas),
        "generation_requests": generations,
        "wall_s": wall,
        "accept_s": max(r["accepted_at"] for r in replicas) - start,
        "jobs_per_s": n / wall,
        "bot_cpu_ms_per_job": sum(r["cpu_s"] for r in replicas) / n * 1000,
        "bot_cpu_ms_per_job_by_replica": [r["cpu_s"] / r["issued"] * 1000 for r in replicas],
        "server_cpu_ms_per_job": raw["server_cpu_s"] / n * 1000,
        "latency_p50_ms": latency["p50"],
        "latency_p99_ms": latency["p99"],
        "failure_texts": [t for r in replicas for t in r["failure_texts"]][:3],
    }


# -- the whole benchmark --------------------------------------------------------------------

MEDIANS = (
    "jobs_per_s",
    "wall_s",
    "accept_s",
    "bot_cpu_ms_per_job",
    "server_cpu_ms_per_job",
    "latency_p50_ms",
    "latency_p99_ms",
)


def run_bench(
    n: int,
    repeat: int,
    *,
    profile: Profile = FAST,
    cluster: PostgresCluster | None = None,
    timeout: float = 300.0,
    say: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Every set-up ``repeat`` times (interleaved); the raw runs and their medians."""
    started = time.time()
    load_before = os.getloadavg()
    own = cluster is None
    cluster = cluster or PostgresCluster.start(durable=True)
    runs: dict[str, list[dict[str, Any]]] = {s.key: [] for s in SETUPS}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-replicas-") as tmp:
            for r in range(repeat):
                for setup in SETUPS:
                    run = run_once(setup, n, profile, cluster, Path(tmp), timeout, seed=r)
                    runs[setup.key].append(run)
                    say(
                        f"  {setup.key} run {r + 1}/{repeat}: {run['jobs_per_s']:.0f} jobs/s, "
                        f"{run['bot_cpu_ms_per_job']:.2f} ms CPU/job, {run['posted']}/{n} posted"
                    )
    finally:
        if own:
            cluster.stop()
    rows = []
    for setup in SETUPS:
        samples = runs[setup.key]
        row: dict[str, Any] = {"setup": setup.key, "title": setup.title, "replicas": setup.replicas}
        for key in MEDIANS:
            row[key] = statistics.median(s[key] for s in samples)
        row["jobs_per_s_runs"] = [round(s["jobs_per_s"], 1) for s in samples]
        row["bot_cpu_ms_per_job_runs"] = [round(s["bot_cpu_ms_per_job"], 2) for s in samples]
        row["posted"] = [s["posted"] for s in samples]
        row["generation_requests"] = [s["generation_requests"] for s in samples]
        rows.append(row)
    return {
        "n": n,
        "repeat": repeat,
        "profile": {
            "name": profile.name,
            "gen_time": list(profile.gen_time),
            "client": profile.client,
        },
        "machine": machine_info(),
        "load_average": {"before": load_before, "after": os.getloadavg()},
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": time.time() - started,
        "rows": rows,
        "runs": runs,
    }


# -- the report -----------------------------------------------------------------------------


def findings(results: dict[str, Any]) -> list[str]:
    """What the numbers say, and nothing they don't."""
    rows = {row["setup"]: row for row in results["rows"]}
    one, two, lite = rows["postgres-1"], rows["postgres-2"], rows["sqlite"]
    n, repeat = results["n"], results["repeat"]
    ratio = two["jobs_per_s"] / one["jobs_per_s"]
    in_bot = one["bot_cpu_ms_per_job"] / lite["bot_cpu_ms_per_job"]
    with_server = (one["bot_cpu_ms_per_job"] + one["server_cpu_ms_per_job"]) / lite[
        "bot_cpu_ms_per_job"
    ]
    if repeat == 1:
        spread = "one run each, so no spread to compare against"
    else:
        a, b = one["jobs_per_s_runs"], two["jobs_per_s_runs"]
        overlap = max(a) >= min(b) and max(b) >= min(a)
        spread = f"median of {repeat}; runs: one {a}, two {b} jobs/s, " + (
            "the ranges overlap" if overlap else "the ranges do not overlap"
        )
    every = all(
        all(p == n for p in row["posted"]) and all(g == n for g in row["generation_requests"])
        for row in rows.values()
    )
    return [
        f"**Two replicas vs one.** At N = {n}, two replicas on one PostgreSQL completed "
        f"{two['jobs_per_s']:.0f} jobs/s against one replica's {one['jobs_per_s']:.0f} "
        f"(×{ratio:.2f}; {spread}).",
        f"**CPU per job, PostgreSQL vs SQLite.** One process spent "
        f"{one['bot_cpu_ms_per_job']:.2f} ms of CPU per job on PostgreSQL, plus "
        f"{one['server_cpu_ms_per_job']:.2f} ms in the PostgreSQL server, against "
        f"{lite['bot_cpu_ms_per_job']:.2f} ms on SQLite (×{in_bot:.2f} in the bot, "
        f"×{with_server:.2f} counting the server). Two replicas together spent "
        f"{two['bot_cpu_ms_per_job']:.2f} ms per job in the bots and "
        f"{two['server_cpu_ms_per_job']:.2f} ms in the server.",
        f"**Throughput, SQLite vs PostgreSQL.** One process completed "
        f"{lite['jobs_per_s']:.0f} jobs/s on SQLite and {one['jobs_per_s']:.0f} on PostgreSQL.",
        (
            f"**Every job.** Every run posted all {n} jobs with one generation request each."
            if every
            else "**Not every job.** Some run did not post every job with one generation "
            "request each (see *posted* and *generations*): its other figures are not a "
            "like-for-like comparison."
        ),
    ]


def render(results: dict[str, Any]) -> str:
    """The whole page ``docs/benchmarks-replicas.md``."""
    m = results["machine"]
    profile = results["profile"]
    load = results["load_average"]
    runs = "one run" if results["repeat"] == 1 else f"{results['repeat']} runs, medians"
    lines = [
        TITLE,
        "",
        f"Generated by `{results.get('command', 'python -m bench.replicas')}` on "
        f"{results['started_at']} ({results['duration_s'] / 60:.1f} min); raw figures in "
        "`bench/results/replicas.json`; how it runs: the docstring of `bench/replicas.py`. "
        "The figures are from that one invocation on one machine; they show this machine, "
        "not a capacity to plan with.",
        "",
        f"Each run is one burst: N = {results['n']} `/imagine` commands at once on the "
        f"`{profile['name']}` profile ({profile['gen_time'][0]:g}-{profile['gen_time'][1]:g} s "
        "generations), 20 channels, 100 users, limits above N. Each set-up: "
        f"{runs}, interleaved. Machine: {m['nproc']} cores ({m['cpu_model']}), "
        f"{m['ram_gib']} GiB, Python {m['python']}; the replicas, the emulator and PostgreSQL "
        "share those cores (1-minute load average "
        f"{load['before'][0]:.1f} before the runs, {load['after'][0]:.1f} after).",
        "",
        "| set-up | replicas | jobs/s | wall s | all accepted s | bot CPU ms/job | "
        "server CPU ms/job | added latency p50 / p99 ms | posted | generations |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in results["rows"]:
        server = f"{row['server_cpu_ms_per_job']:.2f}" if row["setup"] != "sqlite" else "-"
        lines.append(
            f"| {row['title']} | {row['replicas']} | {row['jobs_per_s']:.0f} | "
            f"{row['wall_s']:.1f} | {row['accept_s']:.2f} | {row['bot_cpu_ms_per_job']:.2f} | "
            f"{server} | {row['latency_p50_ms']:.0f} / {row['latency_p99_ms']:.0f} | "
            f"{', '.join(str(p) for p in row['posted'])} | "
            f"{', '.join(str(g) for g in row['generation_requests'])} |"
        )
    lines += [
        "",
        "*jobs/s*: N over the time from the go signal to the last job ended; *bot CPU*: the "
        "bot processes' user + system CPU over that span, over N; *server CPU*: PostgreSQL's "
        "(the postmaster and its children); *added latency*: the emulator completing a file "
        "to the chat receiving its image; *posted* and *generations*: per run.",
        "",
        "## Findings",
        "",
        *(f"- {line}" for line in findings(results)),
    ]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args[:1] == ["worker"]:
        return replica_main(args[1], args[2])
    parser = argparse.ArgumentParser(prog="python -m bench.replicas", description=__doc__)
    parser.add_argument("--n", type=int, default=1000, help="commands per burst")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", type=Path, default=RESULTS)
    parser.add_argument("--markdown", type=Path, default=MARKDOWN)
    parser.add_argument("--report", action="store_true", help="only re-render from the JSON")
    ns = parser.parse_args(args)
    if ns.report:
        results = json.loads(ns.json.read_text())
    else:
        results = run_bench(ns.n, ns.repeat, say=lambda line: print(line, flush=True))
        results["command"] = "python -m bench.replicas " + shlex.join(args)
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"wrote {ns.json}")
    ns.markdown.write_text(render(results))
    print(f"wrote {ns.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
