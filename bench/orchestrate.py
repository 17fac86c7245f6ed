"""Run the benchmark: per workload (profile, mode, N), one emulator process and one bot
process per phase; collect and summarize what they measured.

The bot process (``bench/bot_proc.py``) is started *from each tree* compared — the current
one and, with ``--baseline``, another checkout — with that tree as its working directory
and first on ``PYTHONPATH``, so each runs its own code; the emulator process is always
this tree's. Repeats alternate the trees (A/B/A/B), so a change in the machine's load hits
both alike; each figure is the median of the repeats, with their range beside it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import IO, Any, Final

from bench.machine import load_average, machine_info
from bench.profiles import Mode, Profile, Service
from bench.pyspy import Profiler
from bench.stats import combine, summarize_restart, summarize_throughput

REPO = Path(__file__).resolve().parent.parent
PHASES = ("throughput", "restart")
_KNOBS = (
    "import dataclasses, json\n"
    "from bot.backend.{module} import {settings} as S\n"
    "print(json.dumps({{f.name: f.default for f in dataclasses.fields(S)\n"
    "                  if f.name not in {skip!r}}}))\n"
)
_SETTINGS: Final[Mapping[Service, tuple[str, str, tuple[str, ...]]]] = MappingProxyType(
    {
        "superduper": ("superduper", "SuperDuperSettings", ("base_url", "token", "ws_url")),
        "comfyui": (
            "comfyui",
            "ComfyUISettings",
            ("urls", "checkpoint", "workflow_path", "authorization"),
        ),
    }
)
"""Per service: the settings class (module, name) and its fields that are not knobs."""


@dataclass(frozen=True)
class Tree:
    """A checkout whose bot is measured: ``new`` (this one) or ``baseline``."""

    label: str
    path: Path

    def env(self) -> dict[str, str]:
        path = os.environ.get("PYTHONPATH")
        own = str(self.path)
        return {**os.environ, "PYTHONPATH": f"{own}{os.pathsep}{path}" if path else own}

    def knobs(self, service: Service = "superduper") -> dict[str, Any]:
        """This tree's settings knobs for ``service`` and their defaults (asked of its code)."""
        module, settings, skip = _SETTINGS[service]
        script = _KNOBS.format(module=module, settings=settings, skip=skip)
        out = subprocess.run(  # noqa: S603 - fixed argv
            [sys.executable, "-c", script],
            cwd=self.path,
            env=self.env(),
            capture_output=True,
            text=True,
            check=True,
        )
        knobs: dict[str, Any] = json.loads(out.stdout)
        return knobs


NEW = Tree("new", REPO)


@dataclass(frozen=True)
class Plan:
    profile: Profile
    modes: Sequence[Mode]
    sizes: Sequence[int]
    phases: Sequence[str] = PHASES
    channels: int = 20
    users: int = 100
    image_side: int = 256
    timeout: float = 900.0
    """Per phase: longest wait for every job to end."""
    seed: int = 0
    restart_sizes: Sequence[int] | None = None
    """Sizes that also run the restart phase (``None``: all)."""
    repeats: int = 1
    """Runs per tree; trees alternate (A/B/A/B) and the report shows medians."""
    extra: dict[str, Any] = field(default_factory=dict)
    service: Service = "superduper"
    """The backend and emulator measured (ComfyUI: throughput only, modes (a) and (b))."""
    emulator: Mapping[str, Any] = field(default_factory=dict)
    """Emulator knobs on top of the profile's (for ComfyUI: ``ComfyEmulatorConfig`` ones)."""

    def emulator_knobs(self, mode: Mode) -> dict[str, Any]:
        """What the emulator process is started with (``bench/emulator_proc.py``)."""
        own: dict[str, Any] = (
            {"gen_time": list(self.profile.gen_time)}
            if self.service == "superduper"
            else {"service": self.service}
        )
        return {**own, "image_side": self.image_side, **self.emulator, **mode.emulator}

    def phases_for(self, mode: Mode, n: int) -> list[str]:
        return [
            p
            for p in self.phases
            if p != "restart"
            or (mode.restart and (self.restart_sizes is None or n in self.restart_sizes))
        ]


class EmulatorProcess:
    """``bench.emulator_proc`` in a child process; stops when its stdin is closed."""

    def __init__(self, knobs: dict[str, Any], log: IO[str]) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "bench.emulator_proc", json.dumps(knobs)],
            cwd=REPO,
            env=NEW.env(),
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            text=True,
        )
        assert self._process.stdout is not None
        line = self._process.stdout.readline()
        if not line:
            self.stop()
            raise RuntimeError("the emulator process exited before it was ready")
        self.endpoints: dict[str, str] = json.loads(line)

    def stop(self) -> None:
        if self._process.stdin is not None:
            self._process.stdin.close()
        try:
            self._process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        if self._process.stdout is not None:
            self._process.stdout.close()


def run_bot_phase(
    spec: dict[str, Any],
    workdir: Path,
    log: IO[str],
    tree: Tree = NEW,
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    spec_path = workdir / f"{spec['phase']}-spec.json"
    result_path = workdir / f"{spec['phase']}-result.json"
    spec_path.write_text(json.dumps(spec))
    argv = [sys.executable, "-m", "bench.bot_proc", str(spec_path), str(result_path)]
    subprocess.run(  # noqa: S603 - our own module, fixed argv
        profiler.wrap(argv) if profiler is not None else argv,
        cwd=tree.path,
        env=tree.env(),
        stdout=log,
        stderr=log,
        check=True,
        timeout=spec["timeout"] * 2 + 120,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def client_settings(plan: Plan, mode: Mode) -> dict[str, Any]:
    return {**plan.profile.client, **mode.client}


def run_sample(
    plan: Plan,
    mode: Mode,
    n: int,
    tree: Tree,
    knobs: dict[str, Any],
    workdir: Path,
    say: Callable[[str], None],
    profiler: Profiler | None = None,
) -> dict[str, Any]:
    """One mode at one size from one tree: every phase, against a fresh emulator process.
    Client knobs the tree does not have are left out (and listed in ``dropped_knobs``)."""
    emulator_knobs = {"seed": plan.seed, **plan.emulator_knobs(mode)}
    wanted = client_settings(plan, mode)
    client = {k: v for k, v in wanted.items() if k in knobs}
    sample: dict[str, Any] = {
        "client": client,
        "settings": {**knobs, **client},
        "dropped_knobs": sorted(set(wanted) - set(client)),
        "load_before": load_average(),
    }
    with (workdir / "log.txt").open("a") as log:
        emulator = EmulatorProcess(emulator_knobs, log)
        try:
            for phase in plan.phases_for(mode, n):
                started = time.monotonic()
                spec = {
                    **emulator.endpoints,
                    "phase": phase,
                    "service": plan.service,
                    "mode": mode.key,
                    "backend": mode.backend,
                    "client": client,
                    "baseline_interval": plan.profile.baseline_interval,
                    "n": n,
                    "channels": plan.channels,
                    "users": plan.users,
                    "image_side": plan.image_side,
                    "timeout": plan.timeout,
                    "workdir": str(workdir),
                }
                if profiler is not None:
                    profiler.phase = phase
                raw = run_bot_phase(spec, workdir, log, tree, profiler)
                if phase == "throughput":
                    sample[phase] = summarize_throughput(raw)
                else:
                    sample[phase] = summarize_restart(raw, started)
                say(
                    f"  {plan.profile.name} ({mode.key}) N={n} {phase} [{tree.label}]: "
                    f"{time.monotonic() - started:.1f}s"
                )
        finally:
            emulator.stop()
    sample["load_after"] = load_average()
    return sample


def _record(plan: Plan, mode: Mode, n: int, tree: Tree, samples: list[dict[str, Any]]) -> Any:
    record: dict[str, Any] = {
        "backend": plan.service,
        "profile": plan.profile.name,
        "mode": mode.key,
        "title": mode.title,
        "n": n,
        "tree": tree.label,
        "emulator": plan.emulator_knobs(mode),
        "client": samples[0]["client"],
        "settings": samples[0]["settings"],
        "dropped_knobs": samples[0]["dropped_knobs"],
        "repeats": len(samples),
        "load": [s["load_before"] for s in samples] + [samples[-1]["load_after"]],
    }
    for phase in PHASES:
        if phase in samples[0]:
            record[phase] = combine([s[phase] for s in samples])
            record[f"{phase}_samples"] = [s[phase] for s in samples]
    return record


def run_plans(
    plans: Sequence[Plan],
    *,
    trees: Sequence[Tree] = (NEW,),
    say: Callable[[str], None] = print,
    profile: bool = False,
) -> dict[str, Any]:
    """Run every plan from every tree; return the raw report (what ``latest.json`` holds).

    With ``profile`` (and py-spy installed), one more run per workload of the ``new`` tree
    under py-spy: its hottest functions go in the record (``profile``), never its figures."""
    started = time.time()
    runs: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    services = list(dict.fromkeys(plan.service for plan in plans))
    knobs = {(t.label, service): t.knobs(service) for t in trees for service in services}
    for plan in plans:
        if plan.service == "superduper":
            profiles[plan.profile.name] = {
                "description": plan.profile.description,
                "gen_time": list(plan.profile.gen_time),
                "client": plan.profile.client,
                "baseline_interval": plan.profile.baseline_interval,
                "channels": plan.channels,
                "users": plan.users,
                "image_side": plan.image_side,
            }
        for mode in plan.modes:
            for n in plan.sizes:
                samples: dict[str, list[dict[str, Any]]] = {t.label: [] for t in trees}
                for repeat in range(plan.repeats):
                    order = trees if repeat % 2 == 0 else list(reversed(trees))
                    for tree in order:
                        tree_knobs = knobs[(tree.label, plan.service)]
                        with tempfile.TemporaryDirectory(prefix=f"bench-{mode.key}-{n}-") as tmp:
                            samples[tree.label].append(
                                run_sample(plan, mode, n, tree, tree_knobs, Path(tmp), say)
                            )
                records = {t.label: _record(plan, mode, n, t, samples[t.label]) for t in trees}
                profiler = Profiler.available() if profile else None
                if profiler is not None and "new" in records:
                    with tempfile.TemporaryDirectory(prefix=f"bench-prof-{mode.key}-{n}-") as tmp:
                        profiler.out_dir = Path(tmp)
                        new_knobs = knobs[("new", plan.service)]
                        run_sample(plan, mode, n, NEW, new_knobs, Path(tmp), say, profiler)
                        records["new"]["profile_cpu"] = profiler.summaries()
                runs.extend(records.values())
    return {
        "machine": machine_info(),
        "trees": {t.label: str(t.path) for t in trees},
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": time.time() - started,
        "profiles": profiles,
        "runs": runs,
    }
