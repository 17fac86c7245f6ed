"""A ``ChatPort`` that records what a user would see, for core tests.

It records *every* call, duplicates included: a post repeated with the same dedupe key
shows up twice in ``images``, so an "exactly once" assertion can fail. (Real platforms
deduplicate with the key; the adapters' own tests cover that against fakes of them.)"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from bot.chat import (
    Action,
    ActionInvocation,
    Attachment,
    Conversation,
    DeliveryError,
    Dialog,
    Invocation,
    ThreadHandle,
    Upload,
)


@dataclass(frozen=True)
class PostedImage:
    where: Conversation
    data: bytes = field(repr=False)
    filename: str
    caption: str
    actions: tuple[Action, ...]
    dedupe_key: str
    message_id: str
    content_type: str = "image/png"


@dataclass(frozen=True)
class PostedText:
    where: Conversation
    text: str
    actions: tuple[Action, ...]
    message_id: str


@dataclass(frozen=True)
class Note:
    """A private (ephemeral) message to one user."""

    user_id: str
    text: str
    answered: object


@dataclass
class RecordingChat:
    platform_name: str = "test"
    limit: int = 1 << 30
    acknowledged: list[Invocation] = field(default_factory=list)
    threads: list[ThreadHandle] = field(default_factory=list)
    status: dict[str, list[str]] = field(default_factory=dict)  # status message id -> texts
    status_actions: dict[str, list[tuple[Action, ...]]] = field(default_factory=dict)
    texts: list[tuple[Conversation, str]] = field(default_factory=list)
    posts: list[PostedText] = field(default_factory=list)
    images: list[PostedImage] = field(default_factory=list)
    notes: list[Note] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    fail_open_thread: DeliveryError | None = None
    fail_post_image: list[DeliveryError] = field(default_factory=list)
    """Raised (first one first) by the next post_media calls."""
    dialogs: list[tuple[ActionInvocation, Dialog]] = field(default_factory=list)
    fail_dialogs: DeliveryError | None = None
    files: dict[str, bytes] = field(default_factory=dict)
    """Attachment URL → bytes the "platform" serves; any other URL is refused."""
    fetched: list[str] = field(default_factory=list)
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)

    @property
    def platform(self) -> str:
        return self.platform_name

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    async def acknowledge(self, invocation: Invocation) -> None:
        self.acknowledged.append(invocation)
        await self._notify()

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        if self.fail_open_thread is not None:
            raise self.fail_open_thread
        message_id = f"msg-{next(self._ids)}"
        thread = invocation.conversation.thread or f"thread-of-{message_id}"
        handle = ThreadHandle(invocation.conversation.in_thread(thread), message_id)
        self.threads.append(handle)
        self.status[message_id] = [status_text]
        self.status_actions[message_id] = [tuple(actions)]
        await self._notify()
        return handle

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        self.status.setdefault(thread.status_message_id, []).append(text)
        self.status_actions.setdefault(thread.status_message_id, []).append(tuple(actions))
        await self._notify()

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        message_id = f"msg-{next(self._ids)}"
        self.texts.append((where, text))
        self.posts.append(PostedText(where, text, tuple(actions), message_id))
        self.status[message_id] = [text]
        self.status_actions[message_id] = [tuple(actions)]
        await self._notify()
        return message_id

    def upload_limit(self, where: Conversation) -> int:
        return self.limit

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        if self.fail_post_image:
            raise self.fail_post_image.pop(0)
        image = PostedImage(
            where,
            upload.data,
            upload.filename,
            caption,
            tuple(actions),
            dedupe_key,
            f"img-{next(self._ids)}",
            upload.content_type,
        )
        self.images.append(image)
        await self._notify()
        return image.message_id

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        self.notes.append(Note(user_id, text, invocation))
        await self._notify()

    async def delete_message(self, where: Conversation, message_id: str) -> None:
        self.deleted.append(message_id)
        await self._notify()

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        if self.fail_dialogs is not None:
            raise self.fail_dialogs
        self.dialogs.append((action, dialog))
        await self._notify()

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        self.fetched.append(attachment.url)
        data = self.files.get(attachment.url)
        if data is None:
            raise DeliveryError("that file isn't on the platform's file host", permanent=True)
        if len(data) > max_bytes:
            raise DeliveryError(f"the file is over {max_bytes} bytes", permanent=True)
        return data

    async def thread_link(self, where: Conversation) -> str | None:
        return f"https://chat.test/{where.channel}/{where.thread}" if where.thread else None

    async def wait_until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait (without sleeping) until ``predicate()`` holds after some chat activity."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()
