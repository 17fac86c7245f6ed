"""The persisted job state machine.

``accepted → prepared → submitting → submitted → completed → posted``, or one of the
terminal endings ``failed`` / ``timed_out`` / ``undeliverable`` / ``cancelled`` with a
reason. An ``accepted`` job waiting for a free slot is "queued".

* ``prepared``: the channel's backend scope is known (SuperDuper: its project).
* ``submitting``: the backend's ticket (where the job runs, its idempotency key) is saved
  *before* the service is asked, so a resume finds the earlier request instead of
  generating again.
* ``submitted``: the backend's handle is saved; ``completed``: the outputs are known.

Every write is compare-and-set on ``version``, so a state never moves backwards and two
writers (a runner and a Cancel press, two replicas) cannot both win."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from bot.backend.types import ResultFile
from bot.chat import ActionKind, Conversation
from bot.command import ImagineParams


class JobState(StrEnum):
    ACCEPTED = "accepted"
    PREPARED = "prepared"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    COMPLETED = "completed"
    POSTED = "posted"
    FAILED = "failed"
    TIMED_OUT = "timed_out"
    UNDELIVERABLE = "undeliverable"
    CANCELLED = "cancelled"

    @property
    def terminal(self) -> bool:
        return self in TERMINAL_STATES

    @property
    def rank(self) -> int:
        """Order along the happy path; every terminal state ranks last."""
        return _RANKS.get(self, len(_RANKS))


TERMINAL_STATES = frozenset(
    {
        JobState.POSTED,
        JobState.FAILED,
        JobState.TIMED_OUT,
        JobState.UNDELIVERABLE,
        JobState.CANCELLED,
    }
)
_RANKS = {
    state: rank
    for rank, state in enumerate(
        (
            JobState.ACCEPTED,
            JobState.PREPARED,
            JobState.SUBMITTING,
            JobState.SUBMITTED,
            JobState.COMPLETED,
        )
    )
}


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
    """One request (a command or a button press) and everything needed to resume it."""

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
    version: int = 0
    """Bumped by the store on every write; a write naming an older version is refused."""
    backend: str = "superduper"
    thread: str | None = None
    status_message_id: str | None = None
    scope: str | None = None
    """The backend's per-channel scope this job was prepared with (opaque)."""
    submission: str | None = None
    """The backend's ticket (``submitting``) or handle (``submitted`` onwards); opaque."""
    results: tuple[ResultFile, ...] = ()
    posted_message_ids: tuple[str, ...] = ()
    attempts: int = 0
    error: str | None = None
    notified: bool = False
    """The ending was announced (a failure notice, a partial batch); resent on resume
    until it was."""
    parent_job_id: str | None = None
    parent_index: int | None = None
    """Which image of the parent a child job acts on (0-based)."""
    action: ActionKind | None = None
    """What made a child job (re-roll, vary, upscale, remix, animate)."""
    cancelled_by: str | None = None
    deleted_by: str | None = None
    """Who deleted the posted result (its buttons then answer that it is gone)."""

    @property
    def channel_key(self) -> ChannelKey:
        return ChannelKey(self.platform, self.workspace, self.channel)

    @property
    def conversation(self) -> Conversation:
        return Conversation(self.platform, self.workspace, self.channel, self.thread)

    @property
    def needs_notice(self) -> bool:
        """An ending (a failure, or a batch with failed images) the requester was not told of."""
        return self.state.terminal and not self.notified


@dataclass(frozen=True, slots=True)
class ChannelSettings:
    """Per-channel overrides of the command defaults; ``None`` means "use config"."""

    width: int | None = None
    height: int | None = None
    steps: int | None = None
    style: str | None = None
    backend: str | None = None
    extra: dict[str, str] = field(default_factory=dict)
