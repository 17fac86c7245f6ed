"""The full run: one workload per target of the performance issue (#15), each run from
every tree compared, its repeats interleaved (see ``orchestrate.py``); and the ComfyUI
workloads (issue #11), run with ``--backend comfyui``."""

from __future__ import annotations

from collections.abc import Sequence

from bench.orchestrate import Plan
from bench.profiles import FAST, MODES, REALISTIC, Mode

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


COMFYUI_MODES = ("a", "b")
"""The modes the ComfyUI backend runs: its socket healthy, its socket down (polling)."""
COMFYUI_STEP_TIME = 0.005
"""The ComfyUI emulator's seconds per sampler step: the built-in workflow's 20 steps take
0.1 s. The emulator runs one prompt at a time, like ComfyUI on one GPU, so the fast
profile's 2-4 s per job would make N = 1,000 a 50-minute queue."""


def comfyui(modes: Sequence[Mode], sizes: Sequence[int], repeats: int = 1) -> Plan:
    """The throughput phase on the ComfyUI backend, the fast profile's client timings."""
    return Plan(
        FAST,
        modes,
        sizes,
        phases=("throughput",),
        repeats=repeats,
        service="comfyui",
        emulator={"step_time": COMFYUI_STEP_TIME},
    )
