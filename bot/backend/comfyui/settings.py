"""Configuration of the ComfyUI backend: hosts, checkpoint, workflow and every timing knob."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

MIB = 1024 * 1024

URLS_SETTING = "COMFYUI_URLS"
CHECKPOINT_SETTING = "COMFYUI_CHECKPOINT"
WORKFLOW_SETTING = "COMFYUI_WORKFLOW"
AUTHORIZATION_SETTING = "COMFYUI_AUTHORIZATION"

_POSITIVE = (
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
    "plan_hold",
)
_NOT_NEGATIVE = (
    "retry_base",
    "retry_cap",
    "retry_after_cap",
    "expected_generation_time",
    "reconcile_spread",
    "healthy_after",
    "ping_interval",
    "ping_timeout",
)


def urls_from(url: str | None = None, urls: str | None = None) -> tuple[str, ...]:
    """The hosts named by ``COMFYUI_URLS`` (comma-separated) or else ``COMFYUI_URL``."""
    text = urls if urls and urls.strip() else (url or "")
    return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class ComfyUISettings:
    """Where the ComfyUI hosts are and how patient to be with them. Times are in seconds."""

    urls: tuple[str, ...]
    """Base URLs of the hosts (``http://gpu1:8188``); jobs go to the least busy one."""
    checkpoint: str
    """``ckpt_name`` of the built-in workflows (a file in the hosts' models/checkpoints)."""
    workflow_path: str | None = None
    """A team's own API-format txt2img workflow (``docs/backend-api.md`` for the mapping)."""
    authorization: str | None = field(default=None, repr=False)
    """``Authorization`` header value for a proxy in front of ComfyUI (a secret)."""

    # HTTP
    request_timeout: float = 30.0
    connect_timeout: float = 10.0
    max_concurrent_requests: int = 32
    """Requests in flight at once, per host."""
    retry_attempts: int = 4
    retry_base: float = 0.5
    retry_cap: float = 10.0
    retry_after_cap: float = 60.0

    # Downloads
    download_timeout: float = 120.0
    max_download_bytes: int = 25 * MIB
    max_pixels: int = 40_000_000
    max_redirects: int = 3

    # Polling (``bot/backend/polling.py``); the rate caps apply per host
    expected_generation_time: float = 30.0
    poll_interval_min: float = 1.0
    poll_interval_cap: float = 15.0
    safety_net_poll: float = 60.0
    max_poll_rate: float = 200.0
    safety_net_rate: float = 20.0
    reconcile_spread: float = 5.0

    # WebSocket (``bot/backend/websocket.py``) and host health
    reconnect_floor: float = 3.0
    """Also the first delay before a host that stopped answering is checked again."""
    reconnect_cap: float = 60.0
    healthy_after: float = 30.0
    auth_refused_retry: float = 300.0
    ws_open_timeout: float = 10.0
    ws_close_timeout: float = 5.0
    ping_interval: float = 20.0
    ping_timeout: float = 20.0
    max_ws_message_bytes: int = 8 * MIB
    """Previews are binary frames: a large PNG preview must fit."""

    plan_hold: float = 60.0
    """How long a planned job counts towards its host's load before its submission shows."""
    default_wait_timeout: float = 30 * 60.0

    def __post_init__(self) -> None:
        if not self.urls:
            raise ValueError(f"{URLS_SETTING} (or COMFYUI_URL) must name at least one host")
        for url in self.urls:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise ValueError(f"{URLS_SETTING}: {url!r} is not an http:// or https:// URL")
            if parts.username or parts.password:
                raise ValueError(
                    f"{URLS_SETTING}: put credentials in {AUTHORIZATION_SETTING}, not in the URL"
                )
            if parts.query or parts.fragment:
                raise ValueError(f"{URLS_SETTING}: {url!r} must not have a query or fragment")
        if len(set(self.urls)) != len(self.urls):
            raise ValueError(f"{URLS_SETTING} names a host twice")
        if not self.checkpoint.strip():
            raise ValueError(f"{CHECKPOINT_SETTING} must name a checkpoint file")
        if self.authorization is not None and (
            not self.authorization.strip() or any(c in self.authorization for c in "\r\n")
        ):
            raise ValueError(f"{AUTHORIZATION_SETTING} must be one non-empty header value")
        if self.max_concurrent_requests < 1:
            raise ValueError("max_concurrent_requests must be at least 1")
        if self.retry_attempts < 1:
            raise ValueError("retry_attempts must be at least 1")
        if self.max_redirects < 0:
            raise ValueError("max_redirects must not be negative")
        for name in _POSITIVE:
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        for name in _NOT_NEGATIVE:
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative")
        if self.max_download_bytes <= 0 or self.max_pixels <= 0 or self.max_ws_message_bytes <= 0:
            raise ValueError("size limits must be positive")

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}
