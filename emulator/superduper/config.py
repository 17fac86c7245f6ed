"""Knobs of the SuperDuper API emulator (mutable: tests may change them at runtime)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class EmulatorConfig:
    """How the emulator behaves. Knobs apply to requests and connections made after a change."""

    token: str = field(default="test-token", repr=False)
    gen_time: tuple[float, float] = (2.0, 4.0)
    """Seconds a file takes from submission to its terminal state, drawn uniformly."""
    failure_rate: float = 0.0
    """Share of files that end ``failed`` instead of ``completed``."""
    ws_drop_rate: float = 0.0
    """Share of WebSocket events (per connection) silently not sent."""
    ws_duplicate_rate: float = 0.0
    """Share of WebSocket events (per connection) sent twice."""
    ws_reorder: bool = False
    """Swap each progress event with the event after it (the terminal one included)."""
    ws_close_after: float | None = None
    """The server closes each WebSocket connection this many seconds after accepting it."""
    ws_accept_then_close: bool = False
    """Accept the upgrade, then close the connection at once."""
    ws_reject_401: bool = False
    """Answer the WebSocket handshake with 401 even with a good token."""
    ws_available: bool = True
    """False: the WebSocket handshake is answered with 503."""
    http_5xx_rate: float = 0.0
    """Share of HTTP requests (``/api/...`` and ``/media/...``) answered 503."""
    http_429_rate: float = 0.0
    """Share of HTTP requests answered 429 with a ``Retry-After`` header."""
    retry_after: str = "1"
    """The ``Retry-After`` value sent with a 429 (seconds or an HTTP-date)."""
    response_delay: float = 0.0
    """Seconds added before every HTTP response (the WebSocket handshake included)."""
    manual_completion: bool = False
    """True: files turn ``processing`` right after submission and stay there until
    ``Emulator.finish`` (``Emulator.report_progress`` sends progress meanwhile)."""
    result_url_base: str | None = None
    """When set, completed files' url is ``{result_url_base}/media/{id}.png``."""
    redirect_media_to: str | None = None
    """When set, ``GET /media/...`` answers ``302`` with this ``Location``."""
    image_override: bytes | None = field(default=None, repr=False)
    """Bytes served instead of the rendered PNG."""
    image_content_type: str = "image/png"
    seed: int = 0
    """Seeds the emulator's random choices (durations, failures, faults)."""

    def __post_init__(self) -> None:
        low, high = self.gen_time
        if not 0 <= low <= high:
            raise ValueError("gen_time must be (min, max) with 0 <= min <= max")
        for name in (
            "failure_rate",
            "ws_drop_rate",
            "ws_duplicate_rate",
            "http_5xx_rate",
            "http_429_rate",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be between 0 and 1")
        if self.response_delay < 0:
            raise ValueError("response_delay must not be negative")
        if self.ws_close_after is not None and self.ws_close_after < 0:
            raise ValueError("ws_close_after must not be negative")
