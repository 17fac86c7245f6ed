"""Exceptions raised by backend clients. Messages never contain credentials."""

from __future__ import annotations


class BackendError(Exception):
    """Base class of every backend failure."""


class ProjectNotFound(BackendError):
    """The project is unknown to the service (404, or the foreign-key 500 on generation)."""


class FileNotFound(BackendError):
    """The service does not know this file (404), e.g. after it lost its state."""


class AuthRefused(BackendError):
    """The service refused our credentials (401/403)."""


class InvalidRequest(BackendError):
    """The service rejected the request's fields (422); ``str(exc)`` is its message."""

    def __init__(self, message: str, details: object = None) -> None:
        super().__init__(message)
        self.details = details


class BackendUnavailable(BackendError):
    """Retries exhausted on connection errors, timeouts, 5xx or 429."""


class DownloadRefused(BackendError):
    """A result URL or body failed a safety check (origin, scheme, size, type, pixels)."""
