"""The core's :class:`~bot.chat.ChatPort` on top of Slack's Web API.

Message ids are Slack ``ts`` strings; a result's id is ``<buttons ts>/<file id>``
(see :mod:`adapters.slack.ids`). Results are deduplicated by the ``dedupe_key`` kept
in the button message's ``metadata``, looked up with ``conversations.replies``; an image
of ours whose button message is missing there (a crash came between the two) is given
its buttons instead of being posted again.

Every request is acknowledged by the adapter the moment it arrives (Slack allows 3 s), so
nothing here acknowledges; private answers go through the request's ``response_url``
when it has one, else ``chat.postEphemeral``."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat import (
    Action,
    ActionInvocation,
    ActionKind,
    Attachment,
    Conversation,
    DeliveryError,
    Dialog,
    Invocation,
    ThreadHandle,
    Upload,
)
from bot.clock import Clock

from .errors import (
    ALREADY_GONE,
    TRANSPORT_ERRORS,
    TRIGGER_ERRORS,
    TriggerExpired,
    api_error_code,
    delivery_error,
    transport_error,
)
from .files import SlackFiles
from .ids import RESULT_EVENT_TYPE, MessageRef, action_id
from .translate import PLATFORM, MentionContext, PressContext, RespondContext
from .views import MetadataTooLong, dialog_view

log = logging.getLogger(__name__)

BUTTONS_TEXT = "What next for this image?"
UPLOAD_LIMIT = 1 << 30
"""Slack accepts files up to 1 GB."""
MAX_SECTION_TEXT = 3000
MAX_ACTIONS_PER_BLOCK = 25
MAX_BLOCKS = 50
"""Blocks in one message (the text section counts)."""
MAX_BUTTON_TEXT = 75
UNREADABLE_THREAD = frozenset({"missing_scope", "thread_not_found", "not_allowed_token_type"})
"""``conversations.replies`` errors after which we post without the dedupe lookup."""
RESPOND_ERRORS: tuple[type[BaseException], ...] = (*TRANSPORT_ERRORS, SlackApiError)


@dataclass(frozen=True, slots=True)
class BotIdentity:
    """Who the bot is in its workspace (from ``auth.test``)."""

    user_id: str
    bot_id: str
    name: str
    team_id: str


class SlackChatPort:
    """Translates the core's requests into Slack Web API calls."""

    def __init__(
        self, client: AsyncWebClient, identity: BotIdentity, files: SlackFiles, clock: Clock
    ) -> None:
        self._client = client
        self._identity = identity
        self._files = files
        self._clock = clock
        self._posting: dict[str, tuple[asyncio.Lock, int]] = {}

    @property
    def platform(self) -> str:
        return PLATFORM

    @property
    def identity(self) -> BotIdentity:
        return self._identity

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    async def acknowledge(self, invocation: Invocation) -> None:
        """Nothing to do: the adapter acknowledged the request when it arrived."""

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        where = invocation.conversation
        ts = await self._post_message(
            where, text=status_text, blocks=text_blocks(status_text, actions)
        )
        return ThreadHandle(where.in_thread(where.thread or ts), status_message_id=ts)

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        await self._api(
            self._client.chat_update(
                channel=thread.conversation.channel,
                ts=thread.status_message_id,
                text=text,
                blocks=text_blocks(text, actions) or [],  # [] removes earlier buttons
            )
        )

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        return await self._post_message(where, text=text, blocks=text_blocks(text, actions))

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
        async with self._posting_lock(dedupe_key):
            thread = await self._thread_messages(where)
            existing = self._find_result(thread, dedupe_key)
            if existing is not None:
                log.info("result %s already in the thread; not posting it again", dedupe_key)
                return str(existing)
            file_id = self._image_without_buttons(thread, upload.filename)
            if file_id is not None:
                log.info(
                    "result %s: its image is in the thread without its buttons (an earlier "
                    "post was cut off); adding them instead of posting it again",
                    dedupe_key,
                )
            else:
                uploaded = await self._api(
                    self._client.files_upload_v2(
                        channel=where.channel,
                        thread_ts=where.thread,
                        file=upload.data,
                        filename=upload.filename,
                        title=upload.filename,
                        initial_comment=caption,
                    ),
                    uploading=True,
                )
                file_id = str(uploaded["file"]["id"])
            try:
                ts = await self._post_message(
                    where,
                    text=BUTTONS_TEXT,
                    blocks=result_blocks(actions, file_id),
                    metadata={
                        "event_type": RESULT_EVENT_TYPE,
                        "event_payload": {"dedupe_key": dedupe_key, "file_id": file_id},
                    },
                )
            except DeliveryError:
                # Slack refused the buttons: take the image away too, so that nobody
                # sees a result without its buttons (a retry shares it again).
                await self._delete_file(file_id)
                raise
            return str(MessageRef(ts, file_id))

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        context = getattr(invocation, "context", None)
        if isinstance(context, RespondContext) and await self._respond(context, text):
            return
        thread = where.thread
        if isinstance(context, MentionContext) and not context.in_thread:
            thread = None  # the mention was in the channel: answer where the user looks
        await self._api(
            self._client.chat_postEphemeral(
                channel=where.channel, user=user_id, text=text, thread_ts=thread
            )
        )

    async def delete_message(self, where: Conversation, message_id: str) -> None:
        ref = MessageRef.parse(message_id)
        if ref.file_id is not None:
            for ts in await self._messages_sharing(where, ref.file_id):
                await self._delete_ts(where.channel, ts)
            await self._delete_file(ref.file_id)
        await self._delete_ts(where.channel, ref.ts)

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        """A modal for whoever pressed ``action``, through the press's ``trigger_id``
        (Slack honours it once, within 3 s of the press)."""
        context = action.context
        if not isinstance(context, PressContext) or not context.trigger_id:
            raise DeliveryError("This press can't open a form (no trigger_id).", permanent=True)
        try:
            view = dialog_view(dialog, action.conversation)
        except MetadataTooLong as exc:
            raise DeliveryError(f"The form would be too large ({exc}).", permanent=True) from None
        try:
            await self.open_view(context.trigger_id, view)
        except TriggerExpired:
            age = self._clock.monotonic() - context.received_at
            log.info("job %s: the form came %.1f s after the press", dialog.job_id, age)
            raise

    async def open_view(self, trigger_id: str, view: Mapping[str, Any]) -> None:
        """``views.open``; :class:`TriggerExpired` when Slack no longer honours the trigger
        (after 3 s, or a second time)."""
        try:
            await self._client.views_open(trigger_id=trigger_id, view=dict(view))
        except SlackApiError as exc:
            code = api_error_code(exc)
            if code in TRIGGER_ERRORS:
                raise TriggerExpired(
                    f"Slack no longer accepts this click for a form ({code}).", permanent=True
                ) from None
            raise delivery_error(exc, bot_name=self._identity.name) from None
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc) from None

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        return await self._files.fetch(attachment, max_bytes)

    async def thread_link(self, where: Conversation) -> str | None:
        if where.thread is None:
            return None
        try:
            answer = await self._client.chat_getPermalink(
                channel=where.channel, message_ts=where.thread
            )
        except RESPOND_ERRORS:
            return None
        link = answer.get("permalink")
        return str(link) if link else None

    # -- helpers -----------------------------------------------------------------------

    async def _post_message(
        self,
        where: Conversation,
        *,
        text: str,
        blocks: list[dict[str, Any]] | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> str:
        response = await self._api(
            self._client.chat_postMessage(
                channel=where.channel,
                thread_ts=where.thread,
                text=text,
                blocks=blocks,
                metadata=metadata,
                unfurl_links=False,
                unfurl_media=False,
            )
        )
        return str(response["ts"])

    async def _respond(self, context: RespondContext, text: str) -> bool:
        """Answer through the request's ``response_url`` (works even where the bot is not
        a member). False when Slack refused it."""
        try:
            result = await context.respond(
                text=text, response_type="ephemeral", replace_original=False
            )
        except RESPOND_ERRORS as exc:
            log.warning("response_url answer failed: %s", type(exc).__name__)
            return False
        status = getattr(result, "status_code", 200)
        return isinstance(status, int) and status < 300

    async def _thread_messages(self, where: Conversation) -> list[Mapping[str, Any]]:
        """Every message of ``where``'s thread; empty if the bot may not read it."""
        messages: list[Mapping[str, Any]] = []
        cursor: str | None = None
        while where.thread is not None:
            try:
                page = await self._client.conversations_replies(
                    channel=where.channel,
                    ts=where.thread,
                    include_all_metadata=True,
                    limit=200,
                    cursor=cursor,
                )
            except SlackApiError as exc:
                code = api_error_code(exc)
                if code not in UNREADABLE_THREAD:
                    raise delivery_error(exc, bot_name=self._identity.name) from exc
                log.warning("cannot read thread %s (%s): no duplicate check", where.thread, code)
                break
            except TRANSPORT_ERRORS as exc:
                raise transport_error(exc) from exc
            messages.extend(page.get("messages") or [])
            cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
            if not cursor:
                break
        return messages

    def _is_own(self, message: Mapping[str, Any]) -> bool:
        return message.get("user") == self._identity.user_id or (
            bool(self._identity.bot_id) and message.get("bot_id") == self._identity.bot_id
        )

    def _find_result(
        self, thread: Sequence[Mapping[str, Any]], dedupe_key: str
    ) -> MessageRef | None:
        for message in thread:
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if (
                metadata.get("event_type") == RESULT_EVENT_TYPE
                and payload.get("dedupe_key") == dedupe_key
                and self._is_own(message)
            ):
                file_id = payload.get("file_id")
                return MessageRef(str(message["ts"]), str(file_id) if file_id else None)
        return None

    def _image_without_buttons(
        self, thread: Sequence[Mapping[str, Any]], filename: str
    ) -> str | None:
        """The id of our file called ``filename`` in the thread that no result's button
        message shows: an earlier post of this result stopped (the process died) between
        sharing the image and posting its buttons. (File names name the job and the
        image, so a file of that name is this result; a complete post, one given again
        with ``/imagine-show`` included, has its button message.)"""
        shown: set[str] = set()
        files: list[str] = []
        for message in thread:
            if not self._is_own(message):
                continue
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == RESULT_EVENT_TYPE:
                shown.add(str((metadata.get("event_payload") or {}).get("file_id")))
            files += [
                str(f.get("id")) for f in message.get("files") or [] if f.get("name") == filename
            ]
        return next((f for f in files if f not in shown), None)

    async def _messages_sharing(self, where: Conversation, file_id: str) -> list[str]:
        """The ``ts`` of our messages in the thread that show the file (its caption)."""
        found: list[str] = []
        for message in await self._thread_messages(where):
            files = message.get("files") or []
            if self._is_own(message) and any(f.get("id") == file_id for f in files):
                found.append(str(message["ts"]))
        return found

    async def _delete_ts(self, channel: str, ts: str) -> None:
        await self._ignoring_gone(self._client.chat_delete(channel=channel, ts=ts))

    async def _delete_file(self, file_id: str) -> None:
        try:
            await self._ignoring_gone(self._client.files_delete(file=file_id))
        except DeliveryError as exc:
            log.warning("could not delete file %s: %s", file_id, exc)

    async def _ignoring_gone(self, call: Awaitable[AsyncSlackResponse]) -> None:
        try:
            await call
        except SlackApiError as exc:
            if api_error_code(exc) not in ALREADY_GONE:
                raise delivery_error(exc, bot_name=self._identity.name) from exc
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc) from exc

    async def _api(
        self, call: Awaitable[AsyncSlackResponse], *, uploading: bool = False
    ) -> AsyncSlackResponse:
        try:
            return await call
        except SlackApiError as exc:
            raise delivery_error(exc, bot_name=self._identity.name) from exc
        except TRANSPORT_ERRORS as exc:
            raise transport_error(exc, uploading=uploading) from exc

    @asynccontextmanager
    async def _posting_lock(self, key: str) -> AsyncIterator[None]:
        """Serialises posts of one result inside this process."""
        lock, users = self._posting.get(key, (asyncio.Lock(), 0))
        self._posting[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._posting[key]
            if users == 1:
                del self._posting[key]
            else:
                self._posting[key] = (lock, users - 1)


def text_blocks(text: str, actions: Sequence[Action]) -> list[dict[str, Any]] | None:
    """A message's text and buttons as blocks (None: plain text, no buttons)."""
    if not actions:
        return None
    section = {"type": "section", "text": {"type": "mrkdwn", "text": _clip(text, MAX_SECTION_TEXT)}}
    return [section, *result_blocks(actions, "", room=MAX_BLOCKS - 1)]


def result_blocks(
    actions: Sequence[Action], file_id: str, *, room: int = MAX_BLOCKS
) -> list[dict[str, Any]]:
    """The Block Kit buttons: one actions block per row (at most ``room`` rows, 25
    buttons each, within Slack's limits); each button's ``action_id`` encodes its kind,
    job id and image index."""
    rows: dict[int, list[dict[str, Any]]] = {}
    for action in actions:
        elements = rows.get(action.row)
        if elements is None and len(rows) < room:
            elements = rows[action.row] = []
        if elements is None or len(elements) >= MAX_ACTIONS_PER_BLOCK:
            log.warning("no room for the %s button of job %s", action.kind, action.job_id)
            continue
        try:
            elements.append(_button(action, file_id))
        except ValueError as exc:
            log.warning("no %s button: %s", action.kind, exc)
    return [
        {"type": "actions", "block_id": f"imagine-row-{row}", "elements": elements}
        for row, elements in sorted(rows.items())
        if elements
    ]


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _button(action: Action, file_id: str) -> dict[str, Any]:
    button: dict[str, Any] = {
        "type": "button",
        "action_id": action_id(action.kind, action.job_id, action.index),
        "text": {"type": "plain_text", "text": _clip(action.label, MAX_BUTTON_TEXT)},
    }
    if file_id:
        button["value"] = file_id
    if action.kind is ActionKind.UPSCALE:
        button["style"] = "primary"
    if action.kind in (ActionKind.DELETE, ActionKind.CANCEL):
        button["style"] = "danger"
    if action.kind is ActionKind.DELETE:
        button["confirm"] = {
            "title": {"type": "plain_text", "text": "Delete this image?"},
            "text": {"type": "plain_text", "text": "It disappears for everyone."},
            "confirm": {"type": "plain_text", "text": "Delete"},
            "deny": {"type": "plain_text", "text": "Keep"},
        }
    return button
