"""The core's ``ChatPort`` on Discord.

Everything after the initial defer goes through the bot's own REST API (channel
and thread ids from the job), never through the 15-minute interaction token, so
a job resumed after a restart still delivers."""

from __future__ import annotations

import hashlib
import io
import logging
from collections.abc import Sequence
from typing import Final

import discord

from adapters.discord.buttons import result_view
from adapters.discord.dialogs import build_modal
from adapters.discord.errors import ANSWER_ERRORS, TRANSPORT_ERRORS, delivery_error
from adapters.discord.files import FileHosts, fetch_attachment
from adapters.discord.settings import DEFAULT_UPLOAD_LIMIT
from adapters.discord.translate import PLATFORM, missing_permissions
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

_log = logging.getLogger(__name__)

MAX_CONTENT = 2000
MAX_THREAD_NAME = 100
THREAD_ARCHIVE_MINUTES: Final = 1440
ANSWERED: Final = "imagine_answered"
"""Key in ``Interaction.extras``: the deferred response was given its text."""


def nonce_for(dedupe_key: str) -> str:
    """A stable Discord message nonce (max 25 characters) for a dedupe key."""
    return hashlib.sha256(dedupe_key.encode()).hexdigest()[:25]


def _clip(text: str, limit: int = MAX_CONTENT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _interaction(invocation: object) -> discord.Interaction[discord.Client] | None:
    context = getattr(invocation, "context", None)
    return context if isinstance(context, discord.Interaction) else None


class DiscordChatPort:
    def __init__(self, client: discord.Client, file_hosts: FileHosts | None = None) -> None:
        self._client = client
        self._file_hosts = file_hosts or FileHosts.for_api_base(None)
        self._limits: dict[str, int] = {}

    @property
    def platform(self) -> str:
        return PLATFORM

    def mention(self, user_id: str) -> str:
        return f"<@{user_id}>"

    def conversation(
        self, guild_id: int | str, channel_id: int | str | None, thread_id: int | str | None
    ) -> Conversation:
        """The ``Conversation`` for a channel (and thread) by id, e.g. for tools and tests."""
        if channel_id is None:
            raise ValueError("a channel id is required")
        thread = str(thread_id) if thread_id is not None else None
        return Conversation(PLATFORM, str(guild_id), str(channel_id), thread)

    def remember_limit(self, where: Conversation, limit: int) -> None:
        """Record the upload limit an interaction reported for this guild and channel."""
        self._limits[f"c:{where.channel}"] = limit
        self._limits[f"g:{where.workspace}"] = limit

    def upload_limit(self, where: Conversation) -> int:
        return self._limits.get(
            f"c:{where.channel}", self._limits.get(f"g:{where.workspace}", DEFAULT_UPLOAD_LIMIT)
        )

    async def acknowledge(self, invocation: Invocation) -> None:
        interaction = _interaction(invocation)
        if interaction is None or interaction.response.is_done():
            return
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
        except TRANSPORT_ERRORS as exc:
            _log.warning("could not defer interaction: %s", type(exc).__name__)

    async def defer_update(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Answer a button press or form submit without a visible message (Discord wants an
        answer within 3 s); later private answers are followups."""
        if interaction.response.is_done():
            return
        try:
            await interaction.response.defer()
        except ANSWER_ERRORS as exc:
            _log.warning("could not defer the interaction: %s", type(exc).__name__)

    async def settle(self, invocation: Invocation, text: str) -> None:
        """Give a deferred command's private "thinking…" answer ``text`` if the core left it
        without one (``/imagine-show`` posts in the channel and says nothing privately)."""
        interaction = _interaction(invocation)
        if interaction is not None and not interaction.extras.get(ANSWERED):
            await self._edit_original(interaction, text)

    async def open_thread(
        self, invocation: Invocation, status_text: str, actions: Sequence[Action] = ()
    ) -> ThreadHandle:
        where = invocation.conversation
        interaction = _interaction(invocation)
        in_thread = where.thread is not None
        if interaction is not None:
            missing = missing_permissions(interaction.app_permissions, in_thread=in_thread)
            if missing:
                raise DeliveryError(
                    f"I can't run /imagine in <#{where.thread or where.channel}>: I'm missing the "
                    f"{', '.join(missing)} permission{'s' if len(missing) > 1 else ''} there. "
                    "Ask a server admin to grant it, or try another channel.",
                    permanent=True,
                )
        if where.thread is not None:
            status_id = await self.post_text(where, status_text, actions)
            handle = ThreadHandle(where, status_id)
        else:
            status_id = await self.post_text(where, status_text, actions)
            name = _clip(str(invocation.options.get("prompt") or invocation.text or "imagine"), 90)
            try:
                data = await self._client.http.start_thread_with_message(
                    int(where.channel),
                    int(status_id),
                    name=_clip(f"🎨 {name}", MAX_THREAD_NAME),
                    auto_archive_duration=THREAD_ARCHIVE_MINUTES,
                    rate_limit_per_user=None,
                )
            except TRANSPORT_ERRORS as exc:
                raise delivery_error(exc, f"<#{where.channel}>") from exc
            handle = ThreadHandle(where.in_thread(str(data["id"])), status_id)
        if (
            interaction is not None
            and interaction.type is discord.InteractionType.application_command
        ):
            await self._edit_original(
                interaction, f"Started — follow along in <#{handle.conversation.thread}>."
            )
        return handle

    async def edit_status(
        self, thread: ThreadHandle, text: str, actions: Sequence[Action] = ()
    ) -> None:
        where = thread.conversation
        # A thread started from a message has that message's id, and the message
        # itself lives in the parent channel.
        channel = where.channel if thread.status_message_id == where.thread else _target(where)
        message = self._messageable(where, channel).get_partial_message(
            int(thread.status_message_id)
        )
        try:
            await message.edit(content=_clip(text), view=result_view(actions))
        except TRANSPORT_ERRORS as exc:
            raise delivery_error(exc, f"<#{channel}>") from exc

    async def post_text(
        self, where: Conversation, text: str, actions: Sequence[Action] = ()
    ) -> str:
        target = _target(where)
        view = result_view(actions)
        try:
            if view is None:
                message = await self._messageable(where, target).send(content=_clip(text))
            else:
                message = await self._messageable(where, target).send(
                    content=_clip(text), view=view
                )
        except TRANSPORT_ERRORS as exc:
            raise delivery_error(exc, f"<#{target}>") from exc
        return str(message.id)

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        target = _target(where)
        file = discord.File(io.BytesIO(upload.data), filename=upload.filename)
        view = result_view(actions)
        try:
            if view is None:
                message = await self._messageable(where, target).send(
                    content=_clip(caption), file=file, nonce=nonce_for(dedupe_key)
                )
            else:
                message = await self._messageable(where, target).send(
                    content=_clip(caption), file=file, view=view, nonce=nonce_for(dedupe_key)
                )
        except TRANSPORT_ERRORS as exc:
            raise delivery_error(exc, f"<#{target}>") from exc
        return str(message.id)

    async def notify_user(
        self, where: Conversation, user_id: str, text: str, invocation: object = None
    ) -> None:
        interaction = _interaction(invocation)
        if interaction is not None and await self._answer_privately(interaction, text):
            return
        try:
            user = await self._client.fetch_user(int(user_id))
            await user.send(_clip(text))
            return
        except TRANSPORT_ERRORS:
            pass  # DMs closed: say it in the conversation instead.
        await self.post_text(where, f"{self.mention(user_id)} {text}")

    async def delete_message(self, where: Conversation, message_id: str) -> None:
        target = _target(where)
        message = self._messageable(where, target).get_partial_message(int(message_id))
        try:
            await message.delete()
        except discord.NotFound:
            return  # already gone: deleting is idempotent
        except TRANSPORT_ERRORS as exc:
            raise delivery_error(exc, f"<#{target}>") from exc

    async def open_dialog(self, action: ActionInvocation, dialog: Dialog) -> None:
        """Answer the button press with a modal (see ``dialogs.py`` for its submit)."""
        interaction = _interaction(action)
        if interaction is None or interaction.response.is_done():
            raise DeliveryError("the button press was already answered", permanent=True)
        try:
            await interaction.response.send_modal(build_modal(dialog))
        except ANSWER_ERRORS as exc:
            _log.info("could not open the %s form: %s", dialog.kind, type(exc).__name__)
            raise DeliveryError("Discord didn't open the form", permanent=True) from None

    async def fetch_attachment(self, attachment: Attachment, max_bytes: int) -> bytes:
        connector = self._client.http.connector or None  # MISSING before login
        return await fetch_attachment(connector, self._file_hosts, attachment, max_bytes)

    async def thread_link(self, where: Conversation) -> str | None:
        return f"https://discord.com/channels/{where.workspace}/{_target(where)}"

    def _messageable(self, where: Conversation, channel: str) -> discord.PartialMessageable:
        guild_id = int(where.workspace) if where.workspace.isdigit() else None
        return self._client.get_partial_messageable(int(channel), guild_id=guild_id)

    async def _answer_privately(
        self, interaction: discord.Interaction[discord.Client], text: str
    ) -> bool:
        """Answer through the interaction (ephemeral); ``False`` when its token is unusable."""
        try:
            if not interaction.response.is_done():
                await interaction.response.send_message(_clip(text), ephemeral=True)
            elif (
                interaction.response.type
                is discord.InteractionResponseType.deferred_channel_message
            ):
                await interaction.edit_original_response(content=_clip(text))
            else:
                await interaction.followup.send(_clip(text), ephemeral=True)
        except ANSWER_ERRORS as exc:
            _log.info("could not answer interaction privately: %s", type(exc).__name__)
            return False
        interaction.extras[ANSWERED] = True
        return True

    async def _edit_original(
        self, interaction: discord.Interaction[discord.Client], text: str
    ) -> None:
        try:
            await interaction.edit_original_response(content=text)
        except TRANSPORT_ERRORS as exc:
            _log.info("could not edit the original response: %s", type(exc).__name__)
            return
        interaction.extras[ANSWERED] = True


def _target(where: Conversation) -> str:
    return where.thread or where.channel
