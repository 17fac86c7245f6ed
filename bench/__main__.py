"""``python -m bench run [--baseline TREE] [--quick | --sizes … --modes …]
[--backend comfyui]`` and ``python -m bench report`` (re-render the markdown from the JSON).

Without ``--sizes``/``--realistic-sizes`` a run is the full run: one workload per target
(``bench/plans.py``). ``--baseline TREE`` runs every workload from that checkout's bot too,
interleaved with this one's, and the report puts the two side by side. ``--backend comfyui``
runs the throughput phase on the ComfyUI backend instead (modes (a) and (b), ``--sizes``
default 100,1000); its runs carry ``"backend": "comfyui"``."""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.findings import findings
from bench.http_cost import measure_http_cost
from bench.orchestrate import NEW, REPO, Plan, Tree, run_plans
from bench.plans import COMFYUI_MODES, comfyui, full_run
from bench.profiles import FAST, MODES, PROFILES, REALISTIC
from bench.report import render_markdown

DEFAULT_JSON = REPO / "bench" / "results" / "latest.json"
DEFAULT_MARKDOWN = REPO / "docs" / "benchmarks.md"
QUICK_JSON = REPO / "bench" / "results" / "quick.json"
QUICK_MARKDOWN = REPO / "bench" / "results" / "quick.md"
QUICK_SIZE = 50


def _ints(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part]


def _modes(text: str) -> list[str]:
    keys = [part.strip() for part in text.split(",") if part.strip()]
    unknown = [k for k in keys if k not in MODES]
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown mode(s): {', '.join(unknown)}")
    return keys


COMFYUI_SIZES = [100, 1000]


def plans_for(ns: argparse.Namespace) -> list[Plan]:
    if ns.backend == "comfyui":
        keys = ns.modes or list(COMFYUI_MODES)
        unsupported = [k for k in keys if k not in COMFYUI_MODES]
        if unsupported or ns.quick or ns.realistic_sizes:
            raise SystemExit(
                f"--backend comfyui runs modes {', '.join(COMFYUI_MODES)} with --sizes only"
            )
        return [comfyui([MODES[k] for k in keys], ns.sizes or COMFYUI_SIZES, ns.repeats or 1)]
    modes = [MODES[k] for k in ns.modes or "abcde"]
    if ns.quick:
        return [Plan(FAST, modes, [ns.quick_size], timeout=60, repeats=ns.repeats or 1)]
    if not ns.sizes and not ns.realistic_sizes:
        return full_run(ns.repeats)
    repeats = ns.repeats or 1
    plans = [Plan(PROFILES[ns.profile], modes, ns.sizes, repeats=repeats)] if ns.sizes else []
    if ns.realistic_sizes:
        realistic_modes = [MODES[k] for k in ns.realistic_modes]
        plans.append(
            Plan(
                REALISTIC,
                realistic_modes,
                ns.realistic_sizes,
                phases=("throughput",),
                repeats=repeats,
            )
        )
    return plans


def merge(old: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """``old`` with ``new``'s runs added (replacing any with the same backend, profile,
    mode, N and tree; a run without ``backend`` is SuperDuper's)."""

    def key(run: dict[str, Any]) -> tuple[str, str, str, int, str]:
        backend = run.get("backend", "superduper")
        return (backend, run["profile"], run["mode"], run["n"], run.get("tree", "new"))

    replaced = {key(r) for r in new["runs"]}
    merged = dict(old)
    merged["runs"] = [r for r in old["runs"] if key(r) not in replaced] + new["runs"]
    if "comfyui" in new:
        # A ComfyUI run leaves the SuperDuper run's set-up, command and timings alone.
        merged["comfyui"] = new["comfyui"]
        return merged
    merged["profiles"] = {**old["profiles"], **new["profiles"]}
    merged["duration_s"] = old["duration_s"] + new["duration_s"]
    merged["command"] = f"{old.get('command', 'python -m bench run')}` then `{new['command']}"
    if "http_cost" in new:
        merged["http_cost"] = new["http_cost"]
    return merged


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("run", help="run the benchmark; write the JSON and the markdown")
    run.add_argument(
        "--baseline",
        type=Path,
        default=None,
        help="a checkout (e.g. a git worktree of the baseline commit) whose bot runs every "
        "workload too, interleaved with this tree's",
    )
    run.add_argument(
        "--repeats", type=int, default=None, help="runs per tree and workload (medians shown)"
    )
    run.add_argument(
        "--profile-cpu",
        action="store_true",
        help="one more run per workload of this tree under py-spy; the report lists where "
        "its CPU went",
    )
    run.add_argument("--sizes", type=_ints, default=[], help="a matrix instead of the full run")
    run.add_argument("--modes", type=_modes, default=None, help="default: a-e (ComfyUI: a,b)")
    run.add_argument(
        "--backend",
        choices=("superduper", "comfyui"),
        default="superduper",
        help="comfyui: the throughput phase on the ComfyUI backend and emulator",
    )
    run.add_argument("--profile", choices=sorted(PROFILES), default=FAST.name)
    run.add_argument(
        "--realistic-sizes",
        type=_ints,
        default=[],
        help="also compare polling-only hybrid and the baseline at 30-40 s generations",
    )
    run.add_argument(
        "--realistic-modes",
        type=_modes,
        default=["a", "b", "c", "d"],
    )
    run.add_argument(
        "--merge",
        action="store_true",
        help="keep the other runs already in the JSON (same backend, profile, mode and N "
        "are replaced)",
    )
    run.add_argument("--quick", action="store_true", help=f"N={QUICK_SIZE} per mode")
    run.add_argument("--quick-size", type=int, default=QUICK_SIZE, help=argparse.SUPPRESS)
    run.add_argument(
        "--http-cost",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="also measure the HTTP client's CPU per request (default: on unless --quick)",
    )
    run.add_argument("--json", type=Path, default=None, help=f"default: {DEFAULT_JSON}")
    run.add_argument("--markdown", type=Path, default=None, help=f"default: {DEFAULT_MARKDOWN}")
    report = sub.add_parser("report", help="re-render the markdown from the JSON")
    report.add_argument("--json", type=Path, default=DEFAULT_JSON)
    report.add_argument("--markdown", type=Path, default=DEFAULT_MARKDOWN)
    ns = parser.parse_args(argv)
    if ns.command == "run":
        # A quick run never overwrites the full results.
        ns.json = ns.json or (QUICK_JSON if ns.quick else DEFAULT_JSON)
        ns.markdown = ns.markdown or (QUICK_MARKDOWN if ns.quick else DEFAULT_MARKDOWN)
        if ns.baseline is not None and ns.backend == "comfyui":
            parser.error("--backend comfyui runs this tree only (no --baseline)")
        trees = [NEW] if ns.baseline is None else [Tree("baseline", ns.baseline.resolve()), NEW]
        results = run_plans(
            plans_for(ns),
            trees=trees,
            say=lambda line: print(line, flush=True),
            profile=ns.profile_cpu,
        )
        superduper = ns.backend == "superduper"
        if ns.http_cost if ns.http_cost is not None else superduper and not ns.quick:
            results["http_cost"] = measure_http_cost()
        command = "python -m bench " + shlex.join(argv or sys.argv[1:])
        results["command"] = command
        if not superduper:
            keep = ("command", "started_at", "duration_s", "machine")
            results["comfyui"] = {k: results[k] for k in keep}
        if ns.merge and ns.json.exists():
            results = merge(json.loads(ns.json.read_text()), results)
        ns.json.parent.mkdir(parents=True, exist_ok=True)
        ns.json.write_text(json.dumps(results, indent=1, sort_keys=True) + "\n")
        print(f"wrote {ns.json}")
    else:
        results = json.loads(ns.json.read_text())
    ns.markdown.parent.mkdir(parents=True, exist_ok=True)
    ns.markdown.write_text(render_markdown(results, findings))
    print(f"wrote {ns.markdown}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
