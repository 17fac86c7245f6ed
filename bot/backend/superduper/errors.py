"""The SuperDuper client's failures, as the neutral backend errors the core understands."""

from __future__ import annotations

from bot.backend.errors import BackendError, ResultLost, ScopeLost


class ProjectNotFound(ScopeLost):
    """The project is unknown to the service (404, or the foreign-key 500 on generation)."""


class FileNotFound(ResultLost):
    """The service does not know this file (404), e.g. after it lost its state."""


class UnexpectedResponse(BackendError):
    """The service answered something this client cannot read (bad JSON, missing fields)."""
