"""Run the benchmark matrix: per mode and size, one emulator process and one bot process
per phase; collect and summarize what they measured."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import IO, Any

from bench.machine import machine_info
from bench.profiles import Mode, Profile
from bench.stats import summarize_restart, summarize_throughput
from bot.backend.superduper import SuperDuperSettings

REPO = Path(__file__).resolve().parent.parent
PHASES = ("throughput", "restart")


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
    extra: dict[str, Any] = field(default_factory=dict)


def _env() -> dict[str, str]:
    path = os.environ.get("PYTHONPATH")
    return {**os.environ, "PYTHONPATH": f"{REPO}{os.pathsep}{path}" if path else str(REPO)}


class EmulatorProcess:
    """``bench.emulator_proc`` in a child process; stops when its stdin is closed."""

    def __init__(self, knobs: dict[str, Any], log: IO[str]) -> None:
        self._process = subprocess.Popen(  # noqa: S603 - our own module, fixed argv
            [sys.executable, "-m", "bench.emulator_proc", json.dumps(knobs)],
            cwd=REPO,
            env=_env(),
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


def run_bot_phase(spec: dict[str, Any], workdir: Path, log: IO[str]) -> dict[str, Any]:
    spec_path = workdir / f"{spec['phase']}-spec.json"
    result_path = workdir / f"{spec['phase']}-result.json"
    spec_path.write_text(json.dumps(spec))
    subprocess.run(  # noqa: S603 - our own module, fixed argv
        [sys.executable, "-m", "bench.bot_proc", str(spec_path), str(result_path)],
        cwd=REPO,
        env=_env(),
        stdout=log,
        stderr=log,
        check=True,
        timeout=spec["timeout"] * 2 + 120,
    )
    result: dict[str, Any] = json.loads(result_path.read_text())
    return result


def client_settings(plan: Plan, mode: Mode) -> dict[str, Any]:
    return {**plan.profile.client, **mode.client}


def effective_settings(overrides: dict[str, Any]) -> dict[str, Any]:
    """Every ``SuperDuperSettings`` knob the bot ran with (the defaults filled in), so the
    report can quote them; endpoints and the token are left out."""
    settings = SuperDuperSettings(
        base_url="http://127.0.0.1",
        token="placeholder",  # noqa: S106 - never sent: only the defaults are read
        **overrides,
    )
    skip = {"base_url", "token", "ws_url"}
    return {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in skip}


def run_one(
    plan: Plan, mode: Mode, n: int, workdir: Path, say: Callable[[str], None]
) -> dict[str, Any]:
    """One mode at one size: every phase, against one emulator process."""
    knobs: dict[str, Any] = {
        "gen_time": list(plan.profile.gen_time),
        "seed": plan.seed,
        "image_side": plan.image_side,
        **mode.emulator,
    }
    record: dict[str, Any] = {
        "profile": plan.profile.name,
        "mode": mode.key,
        "title": mode.title,
        "n": n,
        "client": client_settings(plan, mode),
        "settings": effective_settings(client_settings(plan, mode)),
        "emulator": {k: v for k, v in knobs.items() if k != "seed"},
    }
    phases = [
        p
        for p in plan.phases
        if p != "restart"
        or (mode.restart and (plan.restart_sizes is None or n in plan.restart_sizes))
    ]
    with (workdir / "log.txt").open("w") as log:
        emulator = EmulatorProcess(knobs, log)
        try:
            for phase in phases:
                started = time.monotonic()
                spec = {
                    **emulator.endpoints,
                    "phase": phase,
                    "mode": mode.key,
                    "backend": mode.backend,
                    "client": record["client"],
                    "baseline_interval": plan.profile.baseline_interval,
                    "n": n,
                    "channels": plan.channels,
                    "users": plan.users,
                    "image_side": plan.image_side,
                    "timeout": plan.timeout,
                    "workdir": str(workdir),
                }
                raw = run_bot_phase(spec, workdir, log)
                if phase == "throughput":
                    record[phase] = summarize_throughput(raw)
                else:
                    record[phase] = summarize_restart(raw)
                say(
                    f"  {plan.profile.name} ({mode.key}) N={n} {phase}: "
                    f"{time.monotonic() - started:.1f}s"
                )
        finally:
            emulator.stop()
    return record


def run_plans(plans: Sequence[Plan], *, say: Callable[[str], None] = print) -> dict[str, Any]:
    """Run every plan; return the raw report (what ``latest.json`` holds)."""
    started = time.time()
    runs: list[dict[str, Any]] = []
    profiles: dict[str, Any] = {}
    for plan in plans:
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
                with tempfile.TemporaryDirectory(prefix=f"bench-{mode.key}-{n}-") as tmp:
                    runs.append(run_one(plan, mode, n, Path(tmp), say))
    return {
        "machine": machine_info(),
        "started_at": time.strftime("%Y-%m-%d %H:%M:%S %Z", time.localtime(started)),
        "duration_s": time.time() - started,
        "profiles": profiles,
        "runs": runs,
    }
