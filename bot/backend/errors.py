"""Exceptions raised by backends. Messages never contain credentials.

Every error knows which service failed (``service``, e.g. "SuperDuper at api.example.com")
and which setting an admin would check (``setting``, e.g. ``SUPERDUPER_TOKEN``), so the
core can word failures without knowing any backend."""

from __future__ import annotations


class BackendError(Exception):
    """Base class of every backend failure."""

    def __init__(self, message: str, *, service: str = "", setting: str = "") -> None:
        super().__init__(message)
        self.service = service
        self.setting = setting


class ScopeLost(BackendError):
    """The per-channel scope the submission carried is unknown to the service (SuperDuper:
    the project was deleted or the service lost its state); the core prepares a new one."""


class ResultLost(BackendError):
    """The service no longer knows the submission (e.g. it restarted and lost its state)."""


class AuthRefused(BackendError):
    """The service refused our credentials (401/403)."""


class InvalidRequest(BackendError):
    """The service rejected the request (422, a workflow that does not validate, ...);
    ``str(exc)`` is its message, fit to show a user."""

    def __init__(
        self, message: str, details: object = None, *, service: str = "", setting: str = ""
    ) -> None:
        super().__init__(message, service=service, setting=setting)
        self.details = details


class BackendUnavailable(BackendError):
    """Retries exhausted on connection errors, timeouts, 5xx or 429."""


class DownloadRefused(BackendError):
    """A result URL or body failed a safety check (origin, scheme, size, type, pixels)."""


class Unsupported(BackendError):
    """The backend cannot do what was asked (a capability it does not declare)."""
