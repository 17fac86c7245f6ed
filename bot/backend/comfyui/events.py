"""ComfyUI's WebSocket messages, read into a few typed events (everything else is ignored).

Text frames are ``{"type", "data"}``; per-job ones carry ``data.prompt_id``. Binary frames
start with a 4-byte big-endian event type: 1 (``PREVIEW_IMAGE``) is followed by a 4-byte
image format (1 JPEG, 2 PNG) and the image. Previews name no prompt: they belong to the job
this socket's client has running on the host (``server.py`` ``send_image``)."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Final

from bot.backend.waits import is_number

PREVIEW_IMAGE: Final = 1
_FORMATS: Final = MappingProxyType(
    {1: (b"\xff\xd8\xff", "image/jpeg"), 2: (b"\x89PNG\r\n\x1a\n", "image/png")}
)

STARTED: Final = "execution_start"
EXECUTING: Final = "executing"
PROGRESS: Final = "progress"
SUCCESS: Final = "execution_success"
ERROR: Final = "execution_error"
INTERRUPTED: Final = "execution_interrupted"
_JOB_EVENTS: Final = frozenset({STARTED, EXECUTING, PROGRESS, SUCCESS, ERROR, INTERRUPTED})


@dataclass(frozen=True, slots=True)
class QueueStatus:
    """``status``: items running or pending on the host."""

    remaining: int


@dataclass(frozen=True, slots=True)
class JobEvent:
    kind: str
    prompt_id: str
    percent: int | None = None
    """``progress``: the running node's share done (0-100)."""
    finished: bool = False
    """``executing`` with ``node: null``: the job left the queue, its history is written.
    Also set on ``execution_success``/``_error``/``_interrupted``."""
    error: str | None = None
    """``execution_error``: the failing node and ComfyUI's message."""


@dataclass(frozen=True, slots=True)
class Preview:
    data: bytes = field(repr=False)
    content_type: str


Event = QueueStatus | JobEvent | Preview


def parse(message: str | bytes) -> Event | None:
    """One WebSocket message as an event, or None for anything this backend does not use."""
    if isinstance(message, bytes):
        return _preview(message)
    try:
        event = json.loads(message)
    except ValueError:
        return None
    if not isinstance(event, dict) or not isinstance(event.get("data"), dict):
        return None
    kind, data = event.get("type"), event["data"]
    if kind == "status":
        status = data.get("status")
        info = status.get("exec_info") if isinstance(status, dict) else None
        remaining = info.get("queue_remaining") if isinstance(info, dict) else None
        if isinstance(remaining, int) and not isinstance(remaining, bool) and remaining >= 0:
            return QueueStatus(remaining)
        return None
    prompt_id = data.get("prompt_id")
    if kind not in _JOB_EVENTS or not isinstance(prompt_id, str) or not prompt_id:
        return None
    if kind == PROGRESS:
        value, maximum = data.get("value"), data.get("max")
        if not (is_number(value) and is_number(maximum)) or maximum <= 0:
            return None
        return JobEvent(kind, prompt_id, percent=int(min(max(value / maximum, 0.0), 1.0) * 100))
    if kind == EXECUTING:
        return JobEvent(kind, prompt_id, finished=data.get("node") is None)
    if kind == ERROR:
        node_type, text = data.get("node_type"), data.get("exception_message")
        detail = str(text).strip()[:300] if text else "an error"
        where = f" in {node_type}" if isinstance(node_type, str) and node_type else ""
        return JobEvent(kind, prompt_id, finished=True, error=f"{detail}{where}")
    return JobEvent(kind, prompt_id, finished=kind in (SUCCESS, INTERRUPTED))


def _preview(frame: bytes) -> Preview | None:
    if len(frame) < 8:
        return None
    event, image_format = struct.unpack(">II", frame[:8])
    known = _FORMATS.get(image_format)
    if event != PREVIEW_IMAGE or known is None:
        return None
    magic, content_type = known
    data = frame[8:]
    return Preview(data, content_type) if data.startswith(magic) else None
