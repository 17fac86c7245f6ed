"""A lean recording ``ChatPort``: when each result image arrived, and little else.

It keeps no image bytes and no message history, so the bot process's memory is the
core's and the backend's, not the recorder's."""

from __future__ import annotations

import itertools
import time
from collections import Counter
from collections.abc import Callable, Sequence

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


class BenchChat:
    """Records ``time.monotonic()`` (injectable) of every ``post_media`` by dedupe key."""

    def __init__(self, platform: str = "bench", clock: Callable[[], float] = time.monotonic):
        self._platform = platform
        self._clock = clock
        self._ids = itertools.count(1)
        self.posted_at: dict[str, float] = {}
        """Dedupe key (``"<job id>:<index>"``) → monotonic time the image arrived."""
        self.image_bytes = 0
        self.calls: Counter[str] = Counter()
        self.failure_texts: list[str] = []
        """Texts posted in threads (the core only posts text there to report a failure)."""

    @property
    def platform(self) -> str:
        return self._platform

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    async def acknowledge(self, invocation: Invocation) -> None:
        self.calls["acknowledge"] += 1

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        self.calls["open_thread"] += 1
        message_id = f"m{next(self._ids)}"
        thread = invocation.conversation.thread or f"t-{message_id}"
        return ThreadHandle(invocation.conversation.in_thread(thread), message_id)

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        self.calls["edit_status"] += 1

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        self.calls["post_text"] += 1
        if len(self.failure_texts) < 20:
            self.failure_texts.append(text)
        return f"m{next(self._ids)}"

    def upload_limit(self, where: Conversation) -> int:
        return 1 << 30

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        self.posted_at.setdefault(dedupe_key, self._clock())
        self.calls["post_image"] += 1
        self.image_bytes += len(upload.data)
        return f"img-{dedupe_key}"

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        self.calls["notify_user"] += 1

    async def delete_message(self, where: Conversation, message_id: str) -> None:
        self.calls["delete_message"] += 1

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        raise DeliveryError("the benchmark has no dialogs", permanent=True)

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        raise DeliveryError("the benchmark has no attachments", permanent=True)

    async def thread_link(self, where: Conversation) -> str | None:
        return None
