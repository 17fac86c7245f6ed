"""Configuration of the SuperDuper client and watcher: endpoints and every timing knob."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

from bot.backend.superduper import paths
from bot.backend.timings import ServiceTimings


@dataclass(frozen=True, slots=True)
class SuperDuperSettings(ServiceTimings):
    """Where the service is and how patient to be with it (``ServiceTimings``)."""

    base_url: str
    token: str = field(repr=False)
    ws_url: str | None = None
    """WebSocket URL; derived from ``base_url`` when unset (see ``ws_url_for``)."""
    safety_net_rate: float = field(default=200.0, kw_only=True)
    """Most safety-net polls per second over all files. The safety net aims (only files
    overdue against the learned durations are polled, ``bot/backend/aim.py``), so this
    bounds a burst of overdue files, not a sweep of every file as before (20/s then)."""

    def __post_init__(self) -> None:
        scheme = urlsplit(self.base_url).scheme
        if scheme not in ("http", "https"):
            raise ValueError("base_url must be an http:// or https:// URL")
        if self.ws_url is not None and urlsplit(self.ws_url).scheme not in ("ws", "wss"):
            raise ValueError("ws_url must be a ws:// or wss:// URL")
        self.check_timings()


def ws_url_for(settings: SuperDuperSettings) -> str:
    """The configured WebSocket URL, or ``base_url`` with http→ws / https→wss and ``/ws`` appended
    to its path (``https://h/prefix`` → ``wss://h/prefix/ws``), like every HTTP path."""
    if settings.ws_url:
        return settings.ws_url
    parts = urlsplit(settings.base_url)
    scheme = "wss" if parts.scheme == "https" else "ws"
    return urlunsplit((scheme, parts.netloc, parts.path.rstrip("/") + paths.WEBSOCKET, "", ""))
