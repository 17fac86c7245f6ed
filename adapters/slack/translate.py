"""Slack payloads → the core's plain types (pure functions, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.chat import ActionInvocation, Attachment, Conversation, Invocation, Requester

from .ids import MessageRef, parse_action_id

PLATFORM = "slack"

Reply = Callable[..., Awaitable[object]]
"""Bolt's ``respond`` callable (``AsyncRespond``)."""


@dataclass(frozen=True, slots=True)
class RespondContext:
    """A request that came with a ``response_url`` (a slash command, a shortcut): the
    adapter acknowledged it on arrival; private answers go through ``respond``, which
    works even in channels the bot is not a member of."""

    respond: Reply


@dataclass(frozen=True, slots=True)
class PressContext:
    """A button press: its ``trigger_id`` opens a modal (once, within 3 s of the press,
    ``received_at`` on the adapter's monotonic clock)."""

    trigger_id: str
    received_at: float


@dataclass(frozen=True, slots=True)
class MentionContext:
    """An ``app_mention``: ``in_thread`` tells whether it was written inside a thread."""

    ts: str
    in_thread: bool


def slash_invocation(body: Mapping[str, Any], context: RespondContext) -> Invocation:
    """``/imagine …`` → an Invocation in the command's channel (or thread, if Slack says)."""
    thread = _str_or_none(body.get("thread_ts"))
    user_id = str(body["user_id"])
    return Invocation(
        conversation=Conversation(
            PLATFORM, str(body.get("team_id", "")), str(body["channel_id"]), thread
        ),
        requester=Requester(user_id, str(body.get("user_name") or user_id)),
        text=str(body.get("text", "")),
        context=context,
    )


def mention_invocation(event: Mapping[str, Any], team_id: str, bot_user_id: str) -> Invocation:
    """``@imagine a fox`` → an Invocation whose thread is the mention's thread, or the
    mention message itself when it was written in the channel. Files shared with the
    mention are its attachments (images first)."""
    ts = str(event["ts"])
    parent = _str_or_none(event.get("thread_ts"))
    user_id = str(event["user"])
    return Invocation(
        conversation=Conversation(PLATFORM, team_id, str(event["channel"]), parent or ts),
        requester=Requester(user_id, user_id),
        text=strip_mention(str(event.get("text", "")), bot_user_id),
        context=MentionContext(ts, in_thread=parent is not None and parent != ts),
        attachments=attachments_of(event.get("files")),
    )


def attachments_of(files: object) -> tuple[Attachment, ...]:
    """Slack file objects → attachments, images first; files without a ``url_private``
    (a tombstone, a file hidden by the plan's limit) are left out."""
    found: list[Attachment] = []
    for item in files if isinstance(files, list) else []:
        file = as_mapping(item)
        url = file.get("url_private")
        if not isinstance(url, str) or not url:
            continue
        size = file.get("size")
        found.append(
            Attachment(
                url=url,
                filename=str(file.get("name") or file.get("title") or "image"),
                content_type=_str_or_none(file.get("mimetype")),
                size=size if isinstance(size, int) and not isinstance(size, bool) else None,
            )
        )
    found.sort(key=lambda a: not (a.content_type or "").startswith("image/"))
    return tuple(found)


def first_image(files: object) -> Attachment | None:
    """The first image among Slack file objects, if any."""
    for attachment in attachments_of(files):
        if (attachment.content_type or "").startswith("image/"):
            return attachment
    return None


def strip_mention(text: str, bot_user_id: str) -> str:
    """Remove every ``<@BOT>`` / ``<@BOT|name>`` token and tidy the spaces."""
    without = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(without.split())


def action_invocation(body: Mapping[str, Any], received_at: float = 0.0) -> ActionInvocation | None:
    """A press of one of our buttons (its kind, job and image index come from the
    ``action_id``), or None for anything that is not ours."""
    actions = body.get("actions")
    if not isinstance(actions, list) or not actions:
        return None
    action = as_mapping(actions[0])
    parsed = parse_action_id(str(action.get("action_id", "")))
    if parsed is None:
        return None
    kind, job_id, index = parsed
    message = as_mapping(body.get("message"))
    container = as_mapping(body.get("container"))
    ts = str(message.get("ts") or container.get("message_ts") or "")
    thread = _str_or_none(message.get("thread_ts") or container.get("thread_ts")) or ts
    channel = str(as_mapping(body.get("channel")).get("id") or container.get("channel_id") or "")
    if not ts or not channel:
        return None
    team = as_mapping(body.get("team"))
    file_id = _str_or_none(action.get("value"))
    return ActionInvocation(
        conversation=Conversation(PLATFORM, str(team.get("id", "")), channel, thread),
        requester=requester_of(body),
        kind=kind,
        job_id=job_id,
        message_id=str(MessageRef(ts, file_id)),
        index=index,
        context=PressContext(str(body.get("trigger_id") or ""), received_at),
    )


def as_mapping(value: object) -> Mapping[str, Any]:
    """Slack payload parts we expect to be objects; anything else reads as empty."""
    return value if isinstance(value, Mapping) else {}


def requester_of(body: Mapping[str, Any]) -> Requester:
    """Who sent an interactive payload (a press, a shortcut, a modal submission)."""
    user = as_mapping(body.get("user"))
    user_id = str(user.get("id", ""))
    return Requester(user_id, str(user.get("username") or user.get("name") or user_id))


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None
