"""File lifecycles: pending → processing (25/50/75 %) → completed | failed.

Each file has at most one scheduled ``loop.call_at`` callback at a time (its next state
change), so tens of thousands of files in flight cost only timer-heap entries.
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from emulator.render import ImageSpec
from emulator.superduper.config import EmulatorConfig
from emulator.superduper.records import Event, FileRecord
from emulator.superduper.validation import GenerationParams

_STAGES: tuple[tuple[float, int], ...] = ((0.25, 25), (0.5, 50), (0.75, 75))
"""(share of the generation time, progress %) of each progress step before the end."""

_FAILURE_REASONS: tuple[str, ...] = (
    "Generation failed: ComfyUI worker timed out",
    "Generation failed: CUDA out of memory",
    "Generation failed: content policy violation",
)


@dataclass(frozen=True, slots=True)
class EventSink:
    """Where a lifecycle sends WebSocket events, and what it reads at completion."""

    publish: Callable[[str, Event], None]
    media_url: Callable[[FileRecord], str]
    completed_at: dict[str, float]


class GenerationBoard:
    """All files the emulator knows, each advancing on its own timer."""

    def __init__(
        self,
        config: Callable[[], EmulatorConfig],
        sink: EventSink,
        rng: random.Random,
    ) -> None:
        self._config = config
        self._sink = sink
        self._rng = rng
        self.files: dict[str, FileRecord] = {}

    def submit(self, params: GenerationParams, project_id: str | None) -> list[FileRecord]:
        """Create ``batch_size`` files and schedule their lifecycles."""
        cfg = self._config()
        loop = asyncio.get_running_loop()
        seed = params.seed if params.seed is not None else self._rng.randrange(2**32)
        low, high = cfg.gen_time
        created = []
        for index in range(params.batch_size):
            fail_reason = None
            if cfg.failure_rate and self._rng.random() < cfg.failure_rate:
                fail_reason = self._rng.choice(_FAILURE_REASONS)
            record = FileRecord(
                id=str(uuid.uuid4()),
                project_id=project_id,
                spec=ImageSpec(params.prompt, seed, index, params.width, params.height),
                started=loop.time(),
                duration=self._rng.uniform(low, high),
                fail_reason=fail_reason,
                reference=params.reference_image,
                reference_weight=params.reference_weight,
                seconds=params.seconds,
                reference_digest=(
                    hashlib.sha256(params.reference_image).hexdigest()
                    if params.reference_image
                    else ""
                ),
            )
            self.files[record.id] = record
            if cfg.manual_completion:
                record.timer = loop.call_soon(self._hold, record)
            else:
                self._schedule(loop, record)
            created.append(record)
        return created

    def _schedule(self, loop: asyncio.AbstractEventLoop, record: FileRecord) -> None:
        share = _STAGES[record.stage][0] if record.stage < len(_STAGES) else 1.0
        record.timer = loop.call_at(record.started + record.duration * share, self._advance, record)

    def _hold(self, record: FileRecord) -> None:
        """Manual completion: processing (0 %) right after submission, until ``finish``."""
        record.timer = None
        record.status = "processing"

    def _advance(self, record: FileRecord) -> None:
        record.timer = None
        if record.stage < len(_STAGES):
            self._set_progress(record, _STAGES[record.stage][1])
            record.stage += 1
            self._schedule(asyncio.get_running_loop(), record)
        else:
            self._finish(record, record.fail_reason)

    def _set_progress(self, record: FileRecord, progress: int) -> None:
        record.status = "processing"
        record.progress = progress
        self._emit(record, "generation.progress")

    def _finish(self, record: FileRecord, error: str | None) -> None:
        if record.timer is not None:
            record.timer.cancel()
            record.timer = None
        if error is None:
            record.status = "completed"
            record.progress = 100
            record.url = self._sink.media_url(record)
            record.content_type = (
                "video/mp4" if record.is_video else self._config().image_content_type
            )
            self._sink.completed_at[record.id] = time.monotonic()
            self._emit(record, "generation.completed")
        else:
            record.status = "failed"
            record.error = error
            self._emit(record, "generation.failed")

    def _emit(self, record: FileRecord, kind: str) -> None:
        # The real service: ``if file.project_id: send_websocket(...)``.
        if not record.project_id:
            return
        event: dict[str, Any] = {
            "type": kind,
            "project_id": record.project_id,
            "file_id": record.id,
            "progress": record.progress,
            "url": record.url,
            "error": record.error,
        }
        if (
            kind == "generation.progress"
            and record.held_event is None
            and self._config().ws_reorder
        ):
            record.held_event = event
            return
        self._sink.publish(record.project_id, event)
        if record.held_event is not None:
            held, record.held_event = record.held_event, None
            self._sink.publish(record.project_id, held)

    def finish(self, file_id: str, error: str | None) -> None:
        """Complete (or fail, with ``error``) a file now; no-op when already terminal."""
        record = self.files[file_id]
        if not record.terminal:
            self._finish(record, error)

    def report_progress(self, file_id: str, progress: int) -> None:
        """Move a non-terminal file to ``processing`` at ``progress`` % and send the event."""
        record = self.files[file_id]
        if not record.terminal:
            self._set_progress(record, progress)

    def status(self, file_id: str) -> str | None:
        record = self.files.get(file_id)
        return record.status if record is not None else None

    def clear(self) -> None:
        """Forget every file and cancel its timer."""
        for record in self.files.values():
            if record.timer is not None:
                record.timer.cancel()
        self.files.clear()
