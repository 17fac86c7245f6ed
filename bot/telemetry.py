"""What the core reports for metrics (the app turns it into Prometheus series).

The core calls these at the moments that matter; ``NullTelemetry`` ignores them, so
tests and the console need nothing."""

from __future__ import annotations

from typing import Protocol

from bot.jobs import JobState


class Telemetry(Protocol):
    def job_state(self, backend: str, state: JobState) -> None:
        """A job of ``backend`` reached ``state``."""
        ...

    def posted(self, backend: str, seconds: float) -> None:
        """A result was posted ``seconds`` after its outputs were known."""
        ...

    def backend_error(self, backend: str, kind: str) -> None:
        """A job failed because of the backend (``kind``: the error's class name)."""
        ...

    def taken_over(self, count: int) -> None:
        """This replica took over ``count`` jobs whose holder's lease expired."""
        ...


class NullTelemetry:
    def job_state(self, backend: str, state: JobState) -> None:
        return None

    def posted(self, backend: str, seconds: float) -> None:
        return None

    def backend_error(self, backend: str, kind: str) -> None:
        return None

    def taken_over(self, count: int) -> None:
        return None
