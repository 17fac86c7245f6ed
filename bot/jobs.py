"""The persisted job state machine.

``accepted → project_ready → submitted → completed → posted``, or one of the
terminal failures ``failed`` / ``timed_out`` / ``undeliverable`` with a reason.
An ``accepted`` job waiting for a free slot is "queued".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.chat import Conversation
from bot.command import ImagineParams


class JobState(StrEnum):
    ACCEPTED = "accepted"
    PROJECT_READY = "project_ready"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    POSTED = "posted"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    UNDELIVERABLE = "undeliverable"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES


TERMINAL_STATES = frozenset(
    {JobState.POSTED, JobState.FAILED, JobState.TIMED_OUT, JobState.UNDELIVERABLE}
)


@dataclass(frozen=True, slots=True)
class ChannelKey:
    """Identifies a chat channel across platforms and workspaces."""

    platform: str
    workspace: str
    channel: str

    @classmethod
    def of(cls, conversation: Conversation) -> ChannelKey:
        return cls(conversation.platform, conversation.workspace, conversation.channel)

    def __str__(self) -> str:
        return f"{self.platform}:{self.workspace}:{self.channel}"


@dataclass(frozen=True, slots=True)
class Job:
    """One /imagine request and everything needed to resume it after a crash."""

    id: str  # short, human-friendly, e.g. "k3f9q2"
    platform: str
    workspace: str
    channel: str
    requester_id: str
    requester_name: str
    params: ImagineParams  # seed always set once persisted
    state: JobState
    created_at: float  # wall clock, epoch seconds
    updated_at: float
    thread: str | None = None
    status_message_id: str | None = None
    project_id: str | None = None
    file_ids: tuple[str, ...] = ()
    result_urls: tuple[str, ...] = ()
    posted_message_ids: tuple[str, ...] = ()
    attempts: int = 0
    error: str | None = None
    parent_job_id: str | None = None  # set for a re-roll

    @property
    def channel_key(self) -> ChannelKey:
        return ChannelKey(self.platform, self.workspace, self.channel)

    @property
    def conversation(self) -> Conversation:
        return Conversation(self.platform, self.workspace, self.channel, self.thread)


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel overrides of the command defaults; ``None`` means "use config"."""

    width: int | None = None
    height: int | None = None
    steps: int | None = None
    style: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
