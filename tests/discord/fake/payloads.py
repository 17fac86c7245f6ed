"""Discord JSON shapes (API v10) built from the fake's model."""

from __future__ import annotations

from typing import Any

from tests.discord.fake.model import (
    DM_CHANNEL,
    PUBLIC_THREAD,
    FakeAttachment,
    FakeChannel,
    FakeMessage,
    FakeUser,
)

TIMESTAMP = "2026-01-01T00:00:00.000000+00:00"
ALL_PERMISSIONS = (1 << 53) - 1


def user(u: FakeUser) -> dict[str, Any]:
    return {
        "id": str(u.id),
        "username": u.name,
        "global_name": u.name.title(),
        "discriminator": "0",
        "avatar": None,
        "bot": u.bot,
        "public_flags": 0,
        "flags": 0,
    }


def member(u: FakeUser, permissions: int, roles: list[int] | None = None) -> dict[str, Any]:
    return {
        "user": user(u),
        "roles": [str(r) for r in roles or []],
        "joined_at": TIMESTAMP,
        "deaf": False,
        "mute": False,
        "flags": 0,
        "pending": False,
        "nick": None,
        "avatar": None,
        "permissions": str(permissions),
    }


def channel(c: FakeChannel) -> dict[str, Any]:
    data: dict[str, Any] = {"id": str(c.id), "type": c.type, "name": c.name, "flags": 0}
    if c.type == DM_CHANNEL:
        return {**data, "recipients": [], "last_message_id": None}
    data.update(
        guild_id=str(c.guild_id),
        position=0,
        permission_overwrites=[],
        nsfw=False,
        parent_id=str(c.parent_id) if c.parent_id else None,
        topic=None,
        last_message_id=None,
        rate_limit_per_user=0,
        default_auto_archive_duration=1440,
    )
    if c.type == PUBLIC_THREAD:
        data.update(
            owner_id=str(c.owner_id),
            message_count=0,
            member_count=1,
            thread_metadata={
                "archived": False,
                "auto_archive_duration": c.auto_archive_duration or 1440,
                "archive_timestamp": TIMESTAMP,
                "locked": False,
            },
        )
    return data


def guild(guild_id: int, name: str, channels: list[FakeChannel], me: FakeUser) -> dict[str, Any]:
    return {
        "id": str(guild_id),
        "name": name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "owner_id": "1",
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "system_channel_flags": 0,
        "preferred_locale": "en-US",
        "features": [],
        "roles": [
            {
                "id": str(guild_id),
                "name": "@everyone",
                "permissions": str(ALL_PERMISSIONS),
                "position": 0,
                "color": 0,
                "hoist": False,
                "managed": False,
                "mentionable": False,
                "flags": 0,
            }
        ],
        "emojis": [],
        "stickers": [],
        "channels": [channel(c) for c in channels if c.type != PUBLIC_THREAD],
        "threads": [channel(c) for c in channels if c.type == PUBLIC_THREAD],
        "members": [member(me, ALL_PERMISSIONS)],
        "member_count": 2,
        "voice_states": [],
        "presences": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
        "large": False,
        "unavailable": False,
        "joined_at": TIMESTAMP,
    }


def message(m: FakeMessage, author: FakeUser, guild_id: int | None) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": str(m.id),
        "channel_id": str(m.channel_id),
        "author": user(author),
        "content": m.content,
        "timestamp": TIMESTAMP,
        "edited_timestamp": TIMESTAMP if m.edits else None,
        "tts": False,
        "mention_everyone": False,
        "mentions": [],
        "mention_roles": [],
        "attachments": [
            {
                "id": str(a.id),
                "filename": a.filename,
                "size": len(a.data),
                "url": f"https://cdn.invalid/attachments/{m.channel_id}/{a.id}/{a.filename}",
                "proxy_url": f"https://media.invalid/attachments/{m.channel_id}/{a.id}/{a.filename}",
                "content_type": a.content_type,
            }
            for a in m.attachments
        ],
        "embeds": [],
        "pinned": False,
        "type": 0,
        "flags": m.flags,
        "components": m.components,
    }
    if guild_id is not None:
        data["guild_id"] = str(guild_id)
    if m.nonce is not None:
        data["nonce"] = m.nonce
    return data


def resolved_attachment(a: FakeAttachment, url: str) -> dict[str, Any]:
    """An attachment option's entry in ``data.resolved.attachments`` (ephemeral upload)."""
    return {
        "id": str(a.id),
        "filename": a.filename,
        "size": a.size,
        "url": url,
        "proxy_url": url,
        "content_type": a.content_type,
        "ephemeral": True,
    }
