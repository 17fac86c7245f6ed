"""``ChatPort`` for the terminal: messages are printed, images saved under an output folder.

Thread and message ids are derived from what is on disk and in the job store, so a
restarted console keeps delivering into the same "thread" and never posts twice:
an image's file name is its dedupe key."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO
from urllib.parse import unquote, urlsplit

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

PLATFORM = "console"
WORKSPACE = "local"
CHANNEL = "general"
UPLOAD_LIMIT = 1 << 30  # files on disk: no platform limit to speak of


def button_text(action: Action) -> str:
    """How a button reads in the terminal: its label and the command that presses it."""
    command = "/" + action.kind.value.replace("_", "-")
    index = f" {action.index + 1}" if action.index is not None else ""
    return f"[{action.label}: {command} {action.job_id}{index}]"


def console_conversation(thread: str | None = None) -> Conversation:
    return Conversation(PLATFORM, WORKSPACE, CHANNEL, thread)


class ConsoleChat:
    def __init__(self, out: TextIO, output_dir: Path) -> None:
        self._out = out
        self._output_dir = output_dir
        self._ids = itertools.count(1)
        self._token = os.urandom(3).hex()  # keeps ids unique across restarts
        self.saved_paths: list[Path] = []
        """Images this process saved, in order."""

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def output_dir(self) -> Path:
        return self._output_dir

    def mention(self, user_id: str) -> str:
        return f"@{user_id}"

    async def acknowledge(self, invocation: Invocation) -> None:
        return None

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        message_id = self._new_id("m")
        thread = invocation.conversation.thread or f"thread-{message_id}"
        self._say(invocation.conversation, status_text + _buttons(actions))
        self._say(invocation.conversation, f"↳ opened thread {thread}")
        return ThreadHandle(invocation.conversation.in_thread(thread), message_id)

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        # The status line only changes at its end ("… · generating… 40%"): show that part.
        self._say(thread.conversation, f"(status) {text.rsplit(' · ', 1)[-1]}{_buttons(actions)}")

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        self._say(where, text + _buttons(actions))
        return self._new_id("m")

    def upload_limit(self, where: Conversation) -> int:
        return UPLOAD_LIMIT

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        data, filename = upload.data, upload.filename
        path = self._image_path(dedupe_key, filename)
        message_id = f"image:{path.name}"
        if path.exists():
            return message_id  # posted before a restart: never twice
        self._output_dir.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".part")
        partial.write_bytes(data)
        partial.replace(path)  # atomic: a crash leaves no half image behind
        self.saved_paths.append(path)
        buttons = "  ".join(button_text(a) for a in actions)
        icon = "🎬" if upload.content_type.startswith("video/") else "🖼 "
        self._say(where, f"{icon} {caption}\n    saved: {path}\n    {buttons}")
        return message_id

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        self._say(where, f"(only @{user_id} sees this) {text}")

    async def delete_message(self, where: Conversation, message_id: str) -> None:
        if message_id.startswith("image:"):
            (self._output_dir / message_id.removeprefix("image:")).unlink(missing_ok=True)
        self._say(where, f"(message {message_id} deleted)")

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        """No forms in a terminal: show the text to edit and the command that submits it."""
        self._say(
            action.conversation,
            f"(only @{action.requester.user_id} sees this) {dialog.title}: edit and send\n"
            f"    /remix {dialog.job_id} {dialog.text}",
        )

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        """``--image PATH`` in the console: a local file (``file://`` URL) only."""
        parts = urlsplit(attachment.url)
        if parts.scheme != "file":
            raise DeliveryError("the console only takes local files (--image PATH)", permanent=True)
        path = Path(unquote(parts.path))
        try:
            data = await asyncio.to_thread(_read_at_most, path, max_bytes + 1)
        except OSError as exc:
            raise DeliveryError(f"cannot read {path}: {exc.strerror}", permanent=True) from None
        if len(data) > max_bytes:
            raise DeliveryError(f"{path.name} is over {max_bytes} bytes", permanent=True)
        return data

    async def thread_link(self, where: Conversation) -> str | None:
        return None

    def _image_path(self, dedupe_key: str, filename: str) -> Path:
        stem = re.sub(r"[^A-Za-z0-9_-]", "-", dedupe_key)
        return self._output_dir / f"{stem}{Path(filename).suffix or '.png'}"

    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{self._token}-{next(self._ids)}"

    def _say(self, where: Conversation, text: str) -> None:
        place = f"#{where.channel}" + (f" › {where.thread}" if where.thread else "")
        print(f"[{place}] imagine-bot: {text}", file=self._out, flush=True)


def _read_at_most(path: Path, limit: int) -> bytes:
    with path.open("rb") as file:
        return file.read(limit)


def _buttons(actions: Sequence[Action]) -> str:
    return ("  " + "  ".join(button_text(a) for a in actions)) if actions else ""
