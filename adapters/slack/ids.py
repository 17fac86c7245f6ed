"""What the adapter writes into Slack objects so it can find its way back later.

* Button ``action_id``: ``imagine:<kind>:<job_id>[:<image index>]`` (at most 87 of Slack's
  255 characters: job ids are capped at 64, indexes at two digits); the button ``value``
  is the Slack file id of the image above it. Both survive a restart (they live in Slack).
* Result message id (what :meth:`SlackChatPort.post_media` returns and the core
  stores): ``<buttons message ts>/<file id>``. A bare ``ts`` is a plain message.
* A modal's ``private_metadata``: see :mod:`adapters.slack.views`.
* Button-message ``metadata``: ``event_type`` ``imagine_result`` with the
  ``dedupe_key`` and the file id, read back from ``conversations.replies``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.chat import ActionKind

ACTION_PREFIX = "imagine"
_KINDS = "|".join(k.value for k in ActionKind)
ACTION_ID_PATTERN = re.compile(rf"^imagine:({_KINDS}):([A-Za-z0-9_-]{{1,64}})(?::([0-9]{{1,2}}))?$")
RESULT_EVENT_TYPE = "imagine_result"


MAX_ACTION_ID = 255
"""Slack's limit for a block element's ``action_id``."""


def action_id(kind: ActionKind, job_id: str, index: int | None = None) -> str:
    """The button's id; ``ValueError`` for a job id or index it could not carry back."""
    suffix = f":{index}" if index is not None else ""
    value = f"{ACTION_PREFIX}:{kind.value}:{job_id}{suffix}"
    if ACTION_ID_PATTERN.match(value) is None:
        raise ValueError(f"job {job_id!r} (image {index}) does not fit in a Slack action_id")
    return value


def parse_action_id(value: str) -> tuple[ActionKind, str, int | None] | None:
    match = ACTION_ID_PATTERN.match(value)
    if match is None:
        return None
    index = int(match.group(3)) if match.group(3) is not None else None
    return ActionKind(match.group(1)), match.group(2), index


@dataclass(frozen=True, slots=True)
class MessageRef:
    """A message the adapter posted: its ``ts`` and, for a result, the image's file id."""

    ts: str
    file_id: str | None = None

    def __str__(self) -> str:
        return self.ts if self.file_id is None else f"{self.ts}/{self.file_id}"

    @classmethod
    def parse(cls, message_id: str) -> MessageRef:
        ts, _, file_id = message_id.partition("/")
        return cls(ts, file_id or None)
