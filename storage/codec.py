"""Row ↔ domain object mapping for the ``jobs`` and ``channel_settings`` tables.

Lists, results and parameters are stored as JSON text; tuples come back as tuples, the
state as :class:`JobState`. Decoding is strict: a row that does not fit raises
``ValueError`` (the store quarantines such a row instead of resuming it)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from typing import Any, Protocol

from bot.backend.types import ResultFile, Task
from bot.chat import ActionKind
from bot.command import ImagineParams, ReferenceSource
from bot.jobs import ChannelSettings, Job, JobState
from bot.store import QuarantinedJob


class Row(Protocol):
    """A row by column name: ``sqlite3.Row``, ``asyncpg.Record``, a ``dict``."""

    def __getitem__(self, key: str, /) -> Any: ...


JOB_COLUMNS: tuple[str, ...] = (
    "id",
    "platform",
    "workspace",
    "channel",
    "thread",
    "status_message_id",
    "requester_id",
    "requester_name",
    "prompt",
    "params",
    "state",
    "version",
    "backend",
    "scope",
    "submission",
    "results",
    "posted_message_ids",
    "attempts",
    "error",
    "notified",
    "parent_job_id",
    "parent_index",
    "action",
    "cancelled_by",
    "deleted_by",
    "created_at",
    "updated_at",
)

SETTINGS_COLUMNS: tuple[str, ...] = ("width", "height", "steps", "style", "backend", "extra")

_PARAM_FIELDS = tuple(f.name for f in dataclasses.fields(ImagineParams))
_REFERENCE_FIELDS = tuple(f.name for f in dataclasses.fields(ReferenceSource))
_RESULT_FIELDS = tuple(f.name for f in dataclasses.fields(ResultFile))


def dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def params_to_json(params: ImagineParams) -> str:
    return dumps(dataclasses.asdict(params))


def params_from_json(text: str) -> ImagineParams:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"params must be a JSON object, got {type(data).__name__}")
    # Unknown keys (written by a newer version) are ignored; missing optional ones default.
    values = {k: data[k] for k in _PARAM_FIELDS if k in data}
    try:
        if "task" in values:
            values["task"] = Task(values["task"])
        if values.get("reference") is not None:
            ref = values["reference"]
            if not isinstance(ref, dict):
                raise ValueError("params.reference must be an object")
            values["reference"] = ReferenceSource(
                **{k: ref[k] for k in _REFERENCE_FIELDS if k in ref}
            )
        return ImagineParams(**values)
    except TypeError as exc:
        raise ValueError(f"params do not fit ImagineParams: {exc}") from exc


def _strings_from_json(text: str, column: str) -> tuple[str, ...]:
    data = json.loads(text)
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError(f"{column} must be a JSON list of strings")
    return tuple(data)


def results_to_json(results: tuple[ResultFile, ...]) -> str:
    return dumps([dataclasses.asdict(r) for r in results])


def results_from_json(text: str) -> tuple[ResultFile, ...]:
    data = json.loads(text)
    if not isinstance(data, list) or not all(isinstance(item, dict) for item in data):
        raise ValueError("results must be a JSON list of objects")
    try:
        return tuple(ResultFile(**{k: d[k] for k in _RESULT_FIELDS if k in d}) for d in data)
    except TypeError as exc:
        raise ValueError(f"results do not fit ResultFile: {exc}") from exc


def job_to_row(job: Job) -> dict[str, object]:
    """Column name → SQL value, for every column in :data:`JOB_COLUMNS`."""
    return {
        "id": job.id,
        "platform": job.platform,
        "workspace": job.workspace,
        "channel": job.channel,
        "thread": job.thread,
        "status_message_id": job.status_message_id,
        "requester_id": job.requester_id,
        "requester_name": job.requester_name,
        "prompt": job.params.prompt,  # duplicated from params for operators' queries
        "params": params_to_json(job.params),
        "state": job.state.value,
        "version": job.version,
        "backend": job.backend,
        "scope": job.scope,
        "submission": job.submission,
        "results": results_to_json(job.results),
        "posted_message_ids": dumps(list(job.posted_message_ids)),
        "attempts": job.attempts,
        "error": job.error,
        "notified": job.notified,
        "parent_job_id": job.parent_job_id,
        "parent_index": job.parent_index,
        "action": job.action.value if job.action is not None else None,
        "cancelled_by": job.cancelled_by,
        "deleted_by": job.deleted_by,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def job_from_row(row: Row) -> Job:
    """Inverse of :func:`job_to_row`. Raises ``ValueError`` on a malformed row."""
    try:
        parent_index = row["parent_index"]
        return Job(
            id=str(row["id"]),
            platform=row["platform"],
            workspace=row["workspace"],
            channel=row["channel"],
            thread=row["thread"],
            status_message_id=row["status_message_id"],
            requester_id=row["requester_id"],
            requester_name=row["requester_name"],
            params=params_from_json(row["params"]),
            state=JobState(row["state"]),
            version=int(row["version"]),
            backend=str(row["backend"]),
            scope=row["scope"],
            submission=row["submission"],
            results=results_from_json(row["results"]),
            posted_message_ids=_strings_from_json(row["posted_message_ids"], "posted_message_ids"),
            attempts=int(row["attempts"]),
            error=row["error"],
            notified=bool(row["notified"]),
            parent_job_id=row["parent_job_id"],
            parent_index=int(parent_index) if parent_index is not None else None,
            action=ActionKind(row["action"]) if row["action"] is not None else None,
            cancelled_by=row["cancelled_by"],
            deleted_by=row["deleted_by"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed job row {row['id']!r}: {exc!r}") from exc


def settings_to_row(settings: ChannelSettings) -> dict[str, object]:
    return {
        "width": settings.width,
        "height": settings.height,
        "steps": settings.steps,
        "style": settings.style,
        "backend": settings.backend,
        "extra": dumps(dict(settings.extra)),
    }


def settings_from_row(row: Row) -> ChannelSettings:
    extra = json.loads(row["extra"])
    if not isinstance(extra, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in extra.items()
    ):
        raise ValueError("channel settings 'extra' must be a JSON object of strings")
    return ChannelSettings(
        width=row["width"],
        height=row["height"],
        steps=row["steps"],
        style=row["style"],
        backend=row["backend"],
        extra=extra,
    )


def jobs_or_quarantined(
    rows: Iterable[Row],
) -> tuple[list[Job], list[QuarantinedJob]]:
    """Decode rows to resume; the unreadable ones (with their reason) are set apart."""
    jobs: list[Job] = []
    bad: list[QuarantinedJob] = []
    for row in rows:
        try:
            jobs.append(job_from_row(row))
        except ValueError as exc:
            bad.append(_quarantined(row, str(exc)[:500]))
    return jobs, bad


def _quarantined(row: Row, reason: str) -> QuarantinedJob:
    def text(name: str) -> str | None:
        value = row[name]
        return value if isinstance(value, str) and value else None

    return QuarantinedJob(
        id=str(row["id"]),
        reason=reason,
        platform=text("platform"),
        workspace=text("workspace"),
        channel=text("channel"),
        thread=text("thread"),
        requester_id=text("requester_id"),
    )
