"""Configuration of the ComfyUI backend: hosts, checkpoint, workflow and every timing knob."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlsplit

from bot.backend.timings import MIB, ServiceTimings

URLS_SETTING = "COMFYUI_URLS"
CHECKPOINT_SETTING = "COMFYUI_CHECKPOINT"
WORKFLOW_SETTING = "COMFYUI_WORKFLOW"
AUTHORIZATION_SETTING = "COMFYUI_AUTHORIZATION"


def urls_from(url: str | None = None, urls: str | None = None) -> tuple[str, ...]:
    """The hosts named by ``COMFYUI_URLS`` (comma-separated) or else ``COMFYUI_URL``."""
    text = urls if urls and urls.strip() else (url or "")
    return tuple(part.strip().rstrip("/") for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class ComfyUISettings(ServiceTimings):
    """Where the ComfyUI hosts are and how patient to be with them (``ServiceTimings``).

    Per host: ``max_concurrent_requests`` and the poll rate caps. ``reconnect_floor`` and
    ``reconnect_cap`` also bound the checks of a host that stopped answering."""

    urls: tuple[str, ...]
    """Base URLs of the hosts (``http://gpu1:8188``); jobs go to the least busy one."""
    checkpoint: str
    """``ckpt_name`` of the built-in workflows (a file in the hosts' models/checkpoints)."""
    workflow_path: str | None = None
    """A team's own API-format txt2img workflow (``docs/backend-api.md`` for the mapping)."""
    authorization: str | None = field(default=None, repr=False)
    """``Authorization`` header value for a proxy in front of ComfyUI (a secret)."""

    max_poll_rate: float = field(default=200.0, kw_only=True)
    """Most polling-only status requests per second over one host's jobs."""
    max_ws_message_bytes: int = field(default=8 * MIB, kw_only=True)
    """Previews are binary frames: a large PNG preview must fit."""
    plan_hold: float = field(default=60.0, kw_only=True)
    """How long a planned job counts towards its host's load before its submission shows."""

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
        if self.plan_hold <= 0:
            raise ValueError("plan_hold must be positive")
        self.check_timings()

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": self.authorization} if self.authorization else {}
