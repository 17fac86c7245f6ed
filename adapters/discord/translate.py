"""Discord interactions → the core's plain ``Conversation`` / ``Requester``."""

from __future__ import annotations

import discord

from bot.chat import Attachment, Conversation, Requester

PLATFORM = "discord"


def conversation_of(interaction: discord.Interaction[discord.Client]) -> Conversation:
    """The channel, and the thread when the interaction happened inside one."""
    workspace = str(interaction.guild_id) if interaction.guild_id is not None else "@me"
    channel = interaction.channel
    channel_id = interaction.channel_id
    if channel_id is None:
        raise ValueError("interaction without a channel")
    if isinstance(channel, discord.Thread) and channel.parent_id is not None:
        return Conversation(PLATFORM, workspace, str(channel.parent_id), str(channel.id))
    return Conversation(PLATFORM, workspace, str(channel_id))


def requester_of(interaction: discord.Interaction[discord.Client]) -> Requester:
    user = interaction.user
    roles: frozenset[str] = frozenset()
    if isinstance(user, discord.Member):
        roles = frozenset(str(role.id) for role in user.roles if not role.is_default())
    return Requester(
        user_id=str(user.id),
        display_name=user.display_name,
        roles=roles,
        is_admin=interaction.permissions.manage_messages,
    )


def missing_permissions(permissions: discord.Permissions, *, in_thread: bool) -> list[str]:
    """Names of the permissions the bot lacks to run a job here, worded as Discord shows them."""
    needed = [
        ("send_messages_in_threads", "Send Messages in Threads"),
        ("attach_files", "Attach Files"),
    ]
    if not in_thread:
        needed = [
            ("send_messages", "Send Messages"),
            ("create_public_threads", "Create Public Threads"),
            *needed,
        ]
    return [label for attr, label in needed if not getattr(permissions, attr)]


def attachment_of(attachment: discord.Attachment) -> Attachment:
    """A slash command's ``image`` option as the core's ``Attachment`` (its URL is on
    Discord's file host; ``size`` is what Discord declared)."""
    return Attachment(
        url=attachment.url,
        filename=attachment.filename,
        content_type=attachment.content_type,
        size=attachment.size,
    )
