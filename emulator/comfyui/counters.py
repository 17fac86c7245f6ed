"""What the ComfyUI emulator served, for tests and benchmarks."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field


@dataclass(slots=True)
class ComfyCounters:
    requests: Counter[str] = field(default_factory=Counter)
    """Requests per route, e.g. ``"POST /prompt"``; refused ones (401/5xx) included."""
    ws_connections: int = 0
    """WebSocket connections accepted (upgraded) in total."""
    ws_open: int = 0
    """WebSocket connections open right now."""
    ws_messages_sent: int = 0
    """Frames sent over WebSockets (text and binary, duplicates included)."""
    prompts_executed: int = 0
    """Prompts taken off the queue and run to an end (success, error or interrupt)."""
    generations: Counter[str] = field(default_factory=Counter)
    """Prompts queued (``POST /prompt`` accepted), by the text their sampler's ``positive``
    input links to: how many generations of a prompt the server was asked for."""
    outputs: Counter[str] = field(default_factory=Counter)
    """Output nodes of the prompts queued, by class (``SaveImage``, ``SaveVideo``, …)."""
