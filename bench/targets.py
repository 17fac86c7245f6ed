"""The targets of the performance issue (#15), judged from a run's results.

A target stated as an absolute figure measured on another machine (5.1 ms of CPU, 213 MiB)
is judged as its ratio to the baseline measured beside it in the same run: the bound is
the baseline's figure times the issue's ratio. Targets on poll timing (seconds of latency
after a lost event, requests per job) or on a configured cap do not depend on the machine
and are judged as stated; a cap on the status requests the bot sent (its own count, see
``bench/sendlog.py``), with the pacer's 0.1 s burst (``bot/backend/pacing.py``)."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from bot.backend.pacing import DEFAULT_BURST

Run = dict[str, Any]


@dataclass(frozen=True)
class Target:
    key: str
    text: str
    profile: str
    mode: str
    n: int
    phase: str
    figure: Callable[[dict[str, Any]], float]
    unit: str
    ratio: float | None = None
    """Bound = baseline × ``ratio`` (None: ``limit`` as stated, or the run's cap)."""
    limit: float | Callable[[Run], float] | None = None


def _latency(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda phase: float(phase["latency_ms"][name])


def _field(name: str) -> Callable[[dict[str, Any]], float]:
    return lambda phase: float(phase[name])


def _cap(run: Run) -> float:
    """The configured cap with its pacer's burst: at most ``rate × (1 s + burst)`` in 1 s."""
    return float(run["settings"].get("max_poll_rate", math.inf)) * (1 + DEFAULT_BURST)


TARGETS: tuple[Target, ...] = (
    Target("1-cpu", "CPU per job halved (5.1 → 2.5 ms)", "fast", "a", 1000, "throughput",
           _field("cpu_ms_per_job"), "ms", ratio=2.5 / 5.1),
    Target("1-p99", "p99 completion → post down accordingly (325 → 100 ms)", "fast", "a", 1000,
           "throughput", _latency("p99"), "ms", ratio=100 / 325),
    Target("2-p95", "20 % of events lost: p95 ≤ 5 s", "realistic", "c", 1000, "throughput",
           _latency("p95"), "ms", limit=5000.0),
    Target("2-p99", "20 % of events lost: p99 ≤ 10 s", "realistic", "c", 1000, "throughput",
           _latency("p99"), "ms", limit=10000.0),
    Target("2-req", "20 % of events lost: ≤ 2 status requests per job", "realistic", "c", 1000,
           "throughput", _field("status_requests_per_job"), "req/job", limit=2.0),
    Target("3-flap", "socket cut every 10 s (e): peak status requests sent/s ≤ the cap",
           "realistic", "e", 10000, "throughput", _field("bot_peak_status_per_s"), "req/s",
           limit=_cap),
    Target("3-poll", "polling only, 10,000 files held: peak status requests sent/s ≤ the cap",
           "fast", "b", 10000, "restart", _field("held_bot_peak_status_per_s"), "req/s",
           limit=_cap),
    Target("3-reconcile", "polling only, 10,000 resumed after a restart: peak sent/s ≤ the cap",
           "fast", "b", 10000, "restart", _field("reconcile_bot_peak_status_per_s"), "req/s",
           limit=_cap),
    Target("4-rss", "10,000 jobs in flight: peak RSS 213 → 150 MiB", "fast", "a", 10000,
           "restart", _field("rss_in_flight_peak_mib"), "MiB", ratio=150 / 213),
    Target("4-restart", "10,000 pending jobs reconciled after a restart: 20 → 10 s", "fast",
           "a", 10000, "restart", _field("reconcile_s"), "s", ratio=10 / 20),
)  # fmt: skip


def find(
    runs: Sequence[Run],
    profile: str,
    mode: str,
    n: int,
    tree: str = "new",
    backend: str = "superduper",
) -> Run | None:
    """The run of a workload (a run without ``backend`` is SuperDuper's)."""
    wanted = (backend, profile, mode, n, tree)
    for run in runs:
        got = (run.get("backend", "superduper"), run["profile"], run["mode"], run["n"])
        if (*got, run.get("tree", "new")) == wanted:
            return run
    return None


@dataclass(frozen=True)
class Verdict:
    target: Target
    new: float
    new_range: tuple[float, float] | None
    baseline: float | None
    bound: float | None
    met: bool | None
    """None: not judged (its baseline was not run)."""
    run: Run


def _range(run: Run, target: Target) -> tuple[float, float] | None:
    samples = run.get(f"{target.phase}_samples") or []
    values = [target.figure(s) for s in samples]
    return (min(values), max(values)) if len(values) > 1 else None


def judge(runs: Sequence[Run]) -> list[Verdict]:
    """Every target whose workload ran (from the ``new`` tree)."""
    verdicts = []
    for target in TARGETS:
        new = find(runs, target.profile, target.mode, target.n)
        if new is None or target.phase not in new:
            continue
        figure = target.figure(new[target.phase])
        base = find(runs, target.profile, target.mode, target.n, "baseline")
        baseline = target.figure(base[target.phase]) if base and target.phase in base else None
        if target.ratio is not None:
            bound = baseline * target.ratio if baseline is not None else None
        elif callable(target.limit):
            bound = target.limit(new)
        else:
            bound = target.limit
        met = None if bound is None or math.isnan(figure) else figure <= bound
        verdicts.append(Verdict(target, figure, _range(new, target), baseline, bound, met, new))
    return verdicts
