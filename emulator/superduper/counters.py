"""What the emulator served, for tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class EmulatorCounters:
    requests: Counter[str] = field(default_factory=Counter)
    """Requests per route, e.g. ``"POST /api/projects"``; refused ones (401/429/5xx) included."""
    ws_connections: int = 0
    """WebSocket connections accepted (upgraded) in total."""
    ws_open: int = 0
    """WebSocket connections open right now."""
    ws_messages_sent: int = 0
    """Frames the server sent over WebSockets (acks, errors and events, duplicates included)."""
    deduplicated_generations: int = 0
    """Generation requests answered from an earlier request's Idempotency-Key (no new work)."""
    generations: Counter[str] = field(default_factory=Counter)
    """New generations started, by prompt (deduplicated requests not counted)."""
