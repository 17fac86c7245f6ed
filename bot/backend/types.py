"""Plain, typed values exchanged with an image-generation backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


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
class GenerationRequest:
    """One image generation, in the service's own field names (minus ``project_id``)."""

    prompt: str
    seed: int
    negative_prompt: str = ""
    width: int = 1024
    height: int = 1024
    steps: int = 20
    batch_size: int = 1
    style_name: str = "default"
    shot_size: str = "Medium Shot"
    generation_config_name: str = "comfyui/flux"
    references: tuple[str, ...] = ()
    entity_ids: tuple[str, ...] = ()
    model_type: str | None = None

    def to_json(self, project_id: str | None) -> dict[str, Any]:
        return {
            "prompt": self.prompt,
            "negative_prompt": self.negative_prompt,
            "width": self.width,
            "height": self.height,
            "steps": self.steps,
            "seed": self.seed,
            "batch_size": self.batch_size,
            "style_name": self.style_name,
            "shot_size": self.shot_size,
            "generation_config_name": self.generation_config_name,
            "references": list(self.references),
            "entity_ids": list(self.entity_ids),
            "model_type": self.model_type,
            "project_id": project_id,
        }


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


@dataclass(frozen=True, slots=True)
class DownloadedImage:
    """Image bytes that passed the origin, size, type and pixel checks."""

    data: bytes = field(repr=False)
    content_type: str
    format: str  # "PNG" | "JPEG" | "WEBP"
    width: int
    height: int


ProgressCallback = Callable[[int], Awaitable[None]]
"""Called with a progress percentage (0-100) while a file is being generated."""
