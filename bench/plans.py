"""The full run: one workload per target of the performance issue (#15), each run from
every tree compared, its repeats interleaved (see ``orchestrate.py``)."""

from __future__ import annotations

from bench.orchestrate import Plan
from bench.profiles import FAST, MODES, REALISTIC

REPEATS = 3
"""Runs per tree of the cheap workloads; the long ones run ``REPEATS - 1`` times."""


def full_run(repeats: int | None = None) -> list[Plan]:
    many = repeats or REPEATS
    few = repeats or max(REPEATS - 1, 1)
    return [
        # 1. CPU per job and p99 at N = 1,000, fast profile.
        Plan(FAST, [MODES["a"]], [1000], phases=("throughput",), repeats=many),
        # 2. 20 % of events dropped, realistic profile.
        Plan(REALISTIC, [MODES["c"]], [1000], phases=("throughput",), repeats=few),
        # 3. Every poll path capped: the socket cut every 10 s, and polling only with
        #    10,000 files held (the restart phase's first stage).
        Plan(REALISTIC, [MODES["e"]], [10000], phases=("throughput",), repeats=few),
        Plan(FAST, [MODES["b"]], [10000], phases=("restart",), repeats=1),
        # 4. 10,000 jobs in flight (RSS) and reconciled after a restart.
        Plan(FAST, [MODES["a"]], [10000], phases=("restart",), repeats=few),
    ]
