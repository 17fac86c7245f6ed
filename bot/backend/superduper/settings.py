"""Configuration of the SuperDuper client and watcher: endpoints and every timing knob."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from bot.backend.superduper import paths

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class SuperDuperSettings:
    """Where the service is and how patient to be with it. Times are in seconds."""

    base_url: str
    token: str = field(repr=False)
    ws_url: str | None = None
    """WebSocket URL; derived from ``base_url`` when unset (see ``ws_url_for``)."""

    # HTTP
    request_timeout: float = 30.0
    """Upper bound of one HTTP attempt, connection included."""
    connect_timeout: float = 10.0
    max_concurrent_requests: int = 32
    """API requests in flight at once (more queue here: cheaper than in httpx's pool)."""
    retry_attempts: int = 4
    """Attempts per call (first try included) on connection errors, timeouts, 5xx, 429."""
    retry_base: float = 0.5
    retry_cap: float = 10.0
    retry_after_cap: float = 60.0
    """Longest ``Retry-After`` honoured; a longer one is shortened to this."""

    # Downloads
    download_timeout: float = 120.0
    max_download_bytes: int = 25 * MIB
    max_video_bytes: int = 200 * MIB
    max_pixels: int = 40_000_000
    max_redirects: int = 3

    # Polling
    expected_generation_time: float = 30.0
    """No status poll before a file can plausibly be done."""
    poll_interval_min: float = 1.0
    """Shortest gap between two polls of one file (after the first one)."""
    poll_interval_cap: float = 15.0
    safety_net_poll: float = 60.0
    """Poll interval while the WebSocket covers the file (catches dropped events)."""
    max_poll_rate: float = 1000.0
    """Most polling-only status requests per second over all files (WebSocket down):
    10,000 files then poll every 10 s instead of flooding the service."""
    safety_net_rate: float = 20.0
    """Most safety-net polls per second over all files (10,000 pending: one each 500 s)."""
    reconcile_spread: float = 5.0
    """Reconciliation polls after a (re)connect are spread over this many seconds."""

    # WebSocket
    reconnect_floor: float = 3.0
    reconnect_cap: float = 60.0
    healthy_after: float = 30.0
    """A connection that stayed up this long resets the reconnect backoff."""
    auth_refused_retry: float = 300.0
    """After a 401/403 at handshake: poll only and retry the WebSocket this much later."""
    ws_open_timeout: float = 10.0
    ws_close_timeout: float = 5.0
    """How long a closing handshake may take before the socket is dropped (half-open peers)."""
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    max_ws_message_bytes: int = 1 * MIB

    default_wait_timeout: float = 30 * 60.0

    def __post_init__(self) -> None:
        scheme = urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError("base_url must be an http:// or https:// URL")
        if self.ws_url is not None and urlsplit(self.ws_url).scheme not in ("ws", "wss"):
            raise ValueError("ws_url must be a ws:// or wss:// URL")
        if self.max_concurrent_requests < 1:
            raise ValueError("max_concurrent_requests must be at least 1")
        if self.retry_attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        for name in (
            "request_timeout",
            "connect_timeout",
            "download_timeout",
            "poll_interval_min",
            "poll_interval_cap",
            "safety_net_poll",
            "safety_net_rate",
            "max_poll_rate",
            "reconnect_floor",
            "reconnect_cap",
            "auth_refused_retry",
            "ws_open_timeout",
            "ws_close_timeout",
            "default_wait_timeout",
        ):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in (
            "retry_base",
            "retry_cap",
            "retry_after_cap",
            "expected_generation_time",
            "reconcile_spread",
            "healthy_after",
            "ping_interval",
            "ping_timeout",
        ):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if min(self.max_download_bytes, self.max_video_bytes, self.max_pixels) <= 0 or (
            self.max_ws_message_bytes <= 0
        ):
            raise ValueError("size limits must be positive")


def ws_url_for(settings: SuperDuperSettings) -> str:
    """The configured WebSocket URL, or ``base_url`` with http→ws / https→wss and ``/ws`` appended
    to its path (``https://h/prefix`` → ``wss://h/prefix/ws``), like every HTTP path."""
    if settings.ws_url:
        return settings.ws_url
    parts = urlsplit(settings.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + paths.WEBSOCKET, "", ""))
