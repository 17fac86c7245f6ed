"""The /imagine command language: parsed values and the errors users see."""

from __future__ import annotations

from dataclasses import dataclass

from bot.backend.types import Task


@dataclass(frozen=True, slots=True)
class ReferenceSource:
    """Where a job's reference image comes from; the bytes are fetched when the job is
    submitted (again after a restart), never stored.

    Either a result of an earlier job (``job_id`` and ``index``) or a chat attachment
    (``url``, fetched through the platform's adapter)."""

    job_id: str | None = None
    index: int = 0
    url: str | None = None
    filename: str | None = None

    def __post_init__(self) -> None:
        if (self.job_id is None) == (self.url is None):
            raise ValueError("a reference is either a job result or an attachment")


@dataclass(frozen=True, slots=True)
class ImagineParams:
    """A validated request. ``seed`` is None when the user gave none (set once persisted)."""

    prompt: str
    width: int
    height: int
    steps: int
    style: str
    count: int = 1
    negative_prompt: str = ""
    seed: int | None = None
    aspect_ratio: str | None = None  # as typed, e.g. "3:2", for captions
    task: Task = Task.IMAGE
    reference: ReferenceSource | None = None
    reference_weight: float = 0.5
    """0..1, how closely to follow ``reference`` (``--iw 0..2`` halved)."""
    seconds: float | None = None
    """Video length, for ``task`` VIDEO."""


@dataclass(frozen=True, slots=True)
class CommandDefaults:
    """Defaults and limits: config first, then per-channel settings override."""

    width: int = 1024
    height: int = 1024
    steps: int = 20
    style: str = "default"
    count: int = 1
    styles: tuple[str, ...] = ("default", "photo", "watercolor", "anime", "sketch", "real_estate")
    max_prompt_chars: int = 1000
    min_side: int = 256
    max_side: int = 2048
    min_steps: int = 1
    max_steps: int = 100
    max_count: int = 4


class CommandError(ValueError):
    """Invalid user input. ``str(exc)`` is a friendly message meant for the user."""
