"""The SuperDuper service's own vocabulary: generated files and how waiting for one ended."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from enum import StrEnum


class FileStatus(StrEnum):
    """Status of one generated file, as the service reports it."""

    PENDING = "pending"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def terminal(self) -> bool:
        return self in (FileStatus.COMPLETED, FileStatus.FAILED)


@dataclass(frozen=True, slots=True)
class SubmittedFile:
    """A file the service created for a generation request."""

    id: str
    status: FileStatus
    project_id: str | None


@dataclass(frozen=True, slots=True)
class FileState:
    """The service's answer to ``GET /api/files/{id}``."""

    id: str
    status: FileStatus
    project_id: str | None = None
    progress: int = 0
    url: str | None = None
    error: str | None = None
    content_type: str | None = None
    width: int | None = None
    height: int | None = None
    seed: int | None = None
    duration: float | None = None


class WaitOutcome(StrEnum):
    COMPLETED = "completed"
    FAILED = "failed"
    TIMED_OUT = "timed_out"


@dataclass(frozen=True, slots=True)
class WaitResult:
    """How waiting for one file ended. ``file`` is the last status seen over HTTP."""

    outcome: WaitOutcome
    file: FileState | None
    reason: str = ""


PercentCallback = Callable[[int], Awaitable[None]]
"""Called with a file's progress percentage (0-100) while it is generated."""
