"""The one interface between the core and a chat platform (Discord, Slack, console).

Adapters implement :class:`ChatPort`; the core never imports a platform library.
Every reference to a platform object (channel, thread, message) is a plain string so
that it can be stored with the job and used again after a restart.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Protocol


@dataclass(frozen=True, slots=True)
class Conversation:
    """A place messages go: a channel, or a thread inside it when ``thread`` is set.

    ``thread`` is the platform's thread id: a Discord thread channel id, a Slack
    parent message ``ts``, a console thread name."""

    platform: str
    workspace: str
    channel: str
    thread: str | None = None

    def in_thread(self, thread: str) -> Conversation:
        return Conversation(self.platform, self.workspace, self.channel, thread)


@dataclass(frozen=True, slots=True)
class Requester:
    user_id: str
    display_name: str
    roles: frozenset[str] = frozenset()
    """Discord role ids / Slack user-group ids, for access control."""
    is_admin: bool = False
    """May change channel settings and delete anyone's results (Manage Messages, ...)."""


@dataclass(frozen=True, slots=True)
class Attachment:
    """A file a user attached to a command (an image prompt). ``url`` is on the
    platform's own file host; the adapter fetches it (with its credentials)."""

    url: str
    filename: str = "image"
    content_type: str | None = None
    size: int | None = None


@dataclass(frozen=True, slots=True)
class Invocation:
    """A user asked for something (slash command, mention, console line, dialog).

    Exactly one of ``text`` (free text with ``--flags``) or ``options`` (typed
    options, e.g. Discord's) carries the command; both may be given, typed options
    then win over flags in the text. ``context`` is the adapter's own handle
    (an interaction, an ``ack`` function): the core passes it back untouched."""

    conversation: Conversation
    requester: Requester
    text: str = ""
    options: Mapping[str, str | int] = field(default_factory=dict)
    context: object = field(default=None, compare=False, repr=False)
    attachments: tuple[Attachment, ...] = ()


class ActionKind(StrEnum):
    REROLL = "reroll"
    DELETE = "delete"
    CANCEL = "cancel"
    VARY_SUBTLE = "vary_subtle"
    VARY_STRONG = "vary_strong"
    UPSCALE = "upscale"
    REMIX = "remix"
    ANIMATE = "animate"

    @property
    def opens_dialog(self) -> bool:
        """The press is answered with a form (it must be the press's first answer)."""
        return self is ActionKind.REMIX


@dataclass(frozen=True, slots=True)
class Action:
    """A button. Adapters encode ``kind``, ``job_id`` and ``index`` in its id (so it keeps
    working after a restart) and lay buttons out by ``row``."""

    kind: ActionKind
    job_id: str
    label: str
    index: int | None = None
    """Which image of the job the button acts on (0-based); None: the whole job."""
    row: int = 0


@dataclass(frozen=True, slots=True)
class Upload:
    """A file to post: an image or a video that already fits the platform's limit."""

    data: bytes = field(repr=False)
    filename: str
    content_type: str


@dataclass(frozen=True, slots=True)
class ActionInvocation:
    """Someone pressed a button under a result."""

    conversation: Conversation
    requester: Requester
    kind: ActionKind
    job_id: str
    message_id: str
    index: int | None = None
    context: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class Dialog:
    """A small form (Discord modal, Slack modal) with one multi-line text field,
    prefilled. Submitting it comes back as ``ImagineCore.submit_dialog``."""

    kind: ActionKind
    job_id: str
    title: str
    label: str
    text: str
    max_length: int = 4000


@dataclass(frozen=True, slots=True)
class DialogSubmission:
    """Someone submitted a ``Dialog``."""

    conversation: Conversation
    requester: Requester
    kind: ActionKind
    job_id: str
    text: str
    context: object = field(default=None, compare=False, repr=False)


@dataclass(frozen=True, slots=True)
class ThreadHandle:
    """The job's thread and the status message the core keeps editing."""

    conversation: Conversation
    status_message_id: str


class DeliveryError(Exception):
    """The platform refused a message. ``str(exc)`` is shown to the requester, so
    adapters word it for a person ("Invite me to #general first: /invite @imagine").

    ``permanent`` means retrying cannot help (403 missing access, 404 channel gone):
    the core marks the job undeliverable instead of retrying."""

    def __init__(self, message: str, *, permanent: bool) -> None:
        super().__init__(message)
        self.permanent = permanent


class ChatPort(Protocol):
    """What the core asks of a chat platform."""

    @property
    def platform(self) -> str: ...

    def mention(self, user_id: str) -> str:
        """How to mention a user in message text (``<@U123>`` on Slack and Discord)."""
        ...

    async def acknowledge(self, invocation: Invocation) -> None:
        """Tell the platform we accepted the command (Discord defer, Slack ack)."""
        ...

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        """Post the public status message (with ``actions`` as buttons) and open (or
        reuse) the job's thread. Invoked inside a thread: the status goes in that thread."""
        ...

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        """Replace the status message's text and buttons (no ``actions``: no buttons)."""
        ...

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        """Post a message; return its id."""
        ...

    def upload_limit(self, where: Conversation) -> int:
        """The largest file, in bytes, the platform accepts here."""
        ...

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        """Post an image or video with a caption and buttons; return the message id.

        ``dedupe_key`` is stable per result: posting twice with the same key must
        leave one message (Discord nonce, a lookup, ...)."""
        ...

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        """Tell one user something privately (ephemeral). ``invocation`` is the
        pending ``Invocation``/``ActionInvocation`` when there is one to answer."""
        ...

    async def delete_message(self, where: Conversation, message_id: str) -> None: ...

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        """Show ``dialog`` to whoever pressed ``action``'s button (it must answer the
        press itself, within the platform's few seconds). ``DeliveryError`` if it can't."""
        ...

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """The attachment's bytes, only from the platform's own file host and at most
        ``max_bytes``; ``DeliveryError`` (worded for the user) otherwise."""
        ...

    async def thread_link(self, where: Conversation) -> str | None:
        """A link a person can click to open ``where`` (None when there is none)."""
        ...


class ImagineCore(Protocol):
    """What adapters call on the core (``bot.service.ImagineBot`` implements it)."""

    def add_chat(self, port: ChatPort) -> None: ...

    async def imagine(self, invocation: Invocation) -> str | None:
        """Accept a command; the job id, or None when the user was told why not."""
        ...

    async def act(self, action: ActionInvocation) -> None:
        """A button under a result was pressed."""
        ...

    async def configure(self, invocation: Invocation) -> None:
        """``/imagine-settings``: show or change the channel's defaults (admins only)."""
        ...

    async def animate(self, invocation: Invocation) -> str | None:
        """``/animate``: a short video; the job id, or None when the user was told why not."""
        ...

    async def submit_dialog(self, submission: DialogSubmission) -> None:
        """A dialog the core opened (Remix) was submitted."""
        ...

    async def history(self, invocation: Invocation) -> None:
        """``/imagine-history``: the requester's last jobs, answered privately."""
        ...

    async def show(self, invocation: Invocation) -> None:
        """``/imagine-show JOB``: post a finished job's result again, with live buttons."""
        ...
