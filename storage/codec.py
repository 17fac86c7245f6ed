"""Row ↔ domain object mapping for the ``jobs`` and ``channel_settings`` tables.

Lists and parameters are stored as JSON text; tuples come back as tuples, the state
as :class:`JobState`. Decoding is strict: a row that does not fit raises ``ValueError``.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from typing import Any

from bot.command import ImagineParams
from bot.jobs import ChannelSettings, Job, JobState

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
    "project_id",
    "file_ids",
    "result_urls",
    "posted_message_ids",
    "attempts",
    "error",
    "parent_job_id",
    "created_at",
    "updated_at",
)

SETTINGS_COLUMNS: tuple[str, ...] = ("width", "height", "steps", "style", "extra")

_PARAM_FIELDS = tuple(f.name for f in dataclasses.fields(ImagineParams))


def _dumps(value: object) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True)


def params_to_json(params: ImagineParams) -> str:
    return _dumps(dataclasses.asdict(params))


def params_from_json(text: str) -> ImagineParams:
    data = json.loads(text)
    if not isinstance(data, dict):
        raise ValueError(f"params must be a JSON object, got {type(data).__name__}")
    # Unknown keys (written by a newer version) are ignored; missing optional ones default.
    try:
        return ImagineParams(**{k: data[k] for k in _PARAM_FIELDS if k in data})
    except TypeError as exc:
        raise ValueError(f"params do not fit ImagineParams: {exc}") from exc


def _strings_from_json(text: str, column: str) -> tuple[str, ...]:
    data = json.loads(text)
    if not isinstance(data, list) or not all(isinstance(item, str) for item in data):
        raise ValueError(f"{column} must be a JSON list of strings")
    return tuple(data)


def job_to_row(job: Job) -> dict[str, object]:
    """Column name → SQLite value, for every column in :data:`JOB_COLUMNS`."""
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
        "project_id": job.project_id,
        "file_ids": _dumps(list(job.file_ids)),
        "result_urls": _dumps(list(job.result_urls)),
        "posted_message_ids": _dumps(list(job.posted_message_ids)),
        "attempts": job.attempts,
        "error": job.error,
        "parent_job_id": job.parent_job_id,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
    }


def job_from_row(row: Mapping[str, Any]) -> Job:
    """Inverse of :func:`job_to_row`. Raises ``ValueError`` on a malformed row."""
    try:
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
            project_id=row["project_id"],
            file_ids=_strings_from_json(row["file_ids"], "file_ids"),
            result_urls=_strings_from_json(row["result_urls"], "result_urls"),
            posted_message_ids=_strings_from_json(row["posted_message_ids"], "posted_message_ids"),
            attempts=int(row["attempts"]),
            error=row["error"],
            parent_job_id=row["parent_job_id"],
            created_at=float(row["created_at"]),
            updated_at=float(row["updated_at"]),
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise ValueError(f"malformed job row {row.get('id')!r}: {exc!r}") from exc


def settings_to_row(settings: ChannelSettings) -> dict[str, object]:
    return {
        "width": settings.width,
        "height": settings.height,
        "steps": settings.steps,
        "style": settings.style,
        "extra": _dumps(dict(settings.extra)),
    }


def settings_from_row(row: Mapping[str, Any]) -> ChannelSettings:
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
        extra=extra,
    )
