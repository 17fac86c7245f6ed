"""Plain, typed values exchanged with any image-generation backend (no service vocabulary)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum


class Capability(StrEnum):
    """What a backend can do; the core offers users only what the channel's backend declares."""

    PROGRESS = "progress"
    """Reports progress while generating (percentages)."""
    PREVIEWS = "previews"
    """Sends live preview images while generating."""
    IMAGE_REFERENCES = "image_references"
    """Takes an image as a reference: image prompts, variations, image-to-image upscales."""
    UPSCALE = "upscale"
    """Has a dedicated upscale (otherwise the core asks for an image-to-image pass at 2x)."""
    CANCEL = "cancel"
    """Can stop work at the service (otherwise a cancel only stops waiting)."""
    VIDEO = "video"
    """Makes short videos."""


class Task(StrEnum):
    IMAGE = "image"
    UPSCALE = "upscale"
    VIDEO = "video"


@dataclass(frozen=True, slots=True)
class ReferenceImage:
    """An image the generation starts from (checked bytes, never stored by the bot)."""

    data: bytes = field(repr=False)
    content_type: str
    width: int
    height: int
    weight: float = 0.5
    """0..1: how closely the result follows the reference (1 = as close as possible)."""


@dataclass(frozen=True, slots=True)
class GenerationRequest:
    """One generation, in neutral terms. ``seed`` is the first image's; image ``k`` of a
    batch uses ``seed + k`` unless the backend reports its own."""

    prompt: str
    seed: int
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    steps: int = 20
    count: int = 1
    style: str = "default"
    task: Task = Task.IMAGE
    reference: ReferenceImage | None = None
    seconds: float | None = None
    """Length of a video (``task`` VIDEO)."""


@dataclass(frozen=True, slots=True)
class ResultFile:
    """One output of a generation: where to download it, or why it failed."""

    url: str | None
    seed: int | None = None
    content_type: str | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.url is not None and self.error is None


class OutcomeStatus(StrEnum):
    COMPLETED = "completed"
    """Every output is terminal and at least one succeeded."""
    FAILED = "failed"
    """Every output failed (``reason`` says why)."""
    TIMED_OUT = "timed_out"
    """The wait ended first; outputs that finished are in ``results``."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """How waiting for a submission ended."""

    status: OutcomeStatus
    results: tuple[ResultFile, ...] = ()
    reason: str = ""
    retryable: bool = True
    """False when resubmitting the same request cannot help (e.g. an invalid workflow)."""


@dataclass(frozen=True, slots=True)
class Media:
    """Downloaded bytes that passed the origin, size, type and pixel checks."""

    data: bytes = field(repr=False)
    content_type: str
    format: str
    """``PNG`` | ``JPEG`` | ``WEBP`` | ``GIF`` | ``MP4`` | ``WEBM``."""
    width: int
    height: int
    duration: float | None = None
    """Seconds, for videos."""

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/")


@dataclass(frozen=True, slots=True)
class Progress:
    percent: int
    """0..100."""
    preview: bytes | None = field(default=None, repr=False)
    """A live preview image (PNG/JPEG bytes) when the backend sends them."""


ProgressCallback = Callable[[Progress], Awaitable[None]]
"""Called while a submission is being generated."""


@dataclass(frozen=True, slots=True)
class BackendStats:
    """Counters a backend keeps, for metrics (monotonic counts since start)."""

    websocket_up: bool
    status_polls: int
    events: int
    websocket_connections: int


@dataclass(frozen=True, slots=True)
class BackendStatus:
    """What a probe of the service found, worded for an operator."""

    reachable: bool
    realtime: bool
    """Live events flow (a WebSocket is up); when False the backend is polling."""
    detail: str
    """One line naming the service and the setting to check, never a secret."""
