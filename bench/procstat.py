"""This process's memory and CPU, from ``/proc`` and ``getrusage`` (Linux)."""

from __future__ import annotations

import contextlib
import resource
from pathlib import Path

_STATUS = Path("/proc/self/status")


def _status_kib(field: str) -> int:
    for line in _STATUS.read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    return 0


def rss_mib() -> float:
    """Resident set size now."""
    return _status_kib("VmRSS") / 1024


def peak_rss_mib() -> float:
    """Peak resident set size since start or since the last ``reset_peak_rss``."""
    return _status_kib("VmHWM") / 1024


def reset_peak_rss() -> None:
    """Reset the peak RSS to the current RSS (``/proc/self/clear_refs`` ``5``)."""
    with contextlib.suppress(OSError):
        Path("/proc/self/clear_refs").write_text("5")


def cpu_seconds() -> float:
    """User + system CPU time of the whole process (every thread)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime
