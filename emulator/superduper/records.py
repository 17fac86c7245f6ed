"""The emulator's in-memory projects and files."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from emulator.render import ImageSpec

Event = dict[str, Any]


@dataclass(slots=True)
class Project:
    id: str
    type: str
    template_name: str | None
    config: dict[str, Any]
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": self.type,
            "template_name": self.template_name,
            "config": self.config,
            "created_at": self.created_at,
        }


@dataclass(slots=True, eq=False)
class FileRecord:
    """One generated file and where it is in its lifecycle."""

    id: str
    project_id: str | None
    spec: ImageSpec
    started: float
    """``loop.time()`` at submission."""
    duration: float
    fail_reason: str | None
    """Set when this file is going to fail."""
    status: str = "pending"
    progress: int = 0
    url: str | None = None
    error: str | None = None
    content_type: str | None = None
    stage: int = 0
    timer: asyncio.Handle | None = None
    """The one scheduled callback that makes the next state change."""
    held_event: Event | None = field(default=None, repr=False)
    """A progress event kept back to be sent after the next one (``ws_reorder``)."""
    reference: bytes | None = field(default=None, repr=False)
    """The image it starts from (image-to-image), and that image's share of the result."""
    reference_weight: float = 0.5
    reference_digest: str = ""
    seconds: float | None = None
    """Set for a video (``POST /api/generation/video``): the clip's length."""

    @property
    def is_video(self) -> bool:
        return self.seconds is not None

    @property
    def terminal(self) -> bool:
        return self.status in ("completed", "failed")

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "project_id": self.project_id,
            "status": self.status,
            "progress": self.progress,
            "url": self.url,
            "error": self.error,
            "content_type": self.content_type,
            "seed": self.spec.seed + self.spec.index,
            "duration": self.seconds if self.url else None,
            "width": self.spec.width,
            "height": self.spec.height,
        }
