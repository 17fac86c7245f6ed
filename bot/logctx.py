"""The job a log line is about: set around each job's run, read by the log formatter.

A ``ContextVar`` is the one process-wide object here, and it holds no shared state: each
task sees the value of the context it runs in (a job's task, and what it spawns)."""

from __future__ import annotations

from contextvars import ContextVar

current_job: ContextVar[str | None] = ContextVar("imagine_job_id", default=None)
