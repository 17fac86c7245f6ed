"""The bot process under py-spy (when installed): where its CPU went, per phase.

``py-spy record --format raw`` writes collapsed stacks (``frame;frame;… count``); the
summary is each function's share of the samples, by its own time (the innermost frame) and
by its total time (anywhere on the stack). Idle time is not sampled, so the shares are of
the CPU the bot used. A profiled run is an extra run: its figures are never reported."""

from __future__ import annotations

import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

RATE = 200
"""Samples per second."""
TOP = 15
PLUMBING = ("<frozen ", "asyncio/", "threading.py", "concurrent/futures/", "bench/bot_proc.py")
"""Frames on nearly every stack (the interpreter, the event loop, the thread pool): left
out of the total-time ranking, where they would fill the top without saying anything."""
_LINE = re.compile(r":\d+\)$")


def _label(frame: str) -> str:
    """``name (path/to/file.py:123)`` → ``name (path/to/file.py)``, shortened to the
    project's or a package's own path."""
    frame = _LINE.sub(")", frame.strip())
    for marker in ("site-packages/", "lib/python3.11/", "/trees/", "/work/"):
        head, sep, tail = frame.partition(marker)
        if sep:
            name = head.split(" (")[0]
            tail = tail.split("/", 1)[1] if marker in ("/trees/",) and "/" in tail else tail
            return f"{name} ({tail}"
    return frame


def plumbing(label: str) -> bool:
    return any(marker in label for marker in PLUMBING)


def summarize(collapsed: str, top: int = TOP) -> dict[str, Any]:
    own: Counter[str] = Counter()
    total: Counter[str] = Counter()
    samples = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_label(f) for f in stack.split(";") if f]
        if not frames:
            continue
        samples += count
        own[frames[-1]] += count
        for frame in set(frames):
            if not plumbing(frame):
                total[frame] += count

    def shares(counter: Counter[str]) -> list[list[Any]]:
        return [[name, count / samples] for name, count in counter.most_common(top)]

    return {
        "samples": samples,
        "self": shares(own) if samples else [],
        "total": shares(total) if samples else [],
    }


@dataclass
class Profiler:
    executable: str
    out_dir: Path = Path(".")
    phase: str = "throughput"
    outputs: dict[str, Path] = field(default_factory=dict)

    @classmethod
    def available(cls) -> Profiler | None:
        found = shutil.which("py-spy") or shutil.which(
            "py-spy", path=str(Path(sys.executable).parent)
        )
        return cls(found) if found else None

    def wrap(self, argv: list[str]) -> list[str]:
        out = self.out_dir / f"{self.phase}.pyspy.txt"
        self.outputs[self.phase] = out
        return [self.executable, "record", "--format", "raw", "--rate", str(RATE),
                "--nonblocking", "--output", str(out), "--", *argv]  # fmt: skip

    def summaries(self) -> dict[str, Any]:
        return {
            phase: summarize(path.read_text())
            for phase, path in self.outputs.items()
            if path.exists()
        }
