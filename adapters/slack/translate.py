"""Slack payloads → the core's plain types (pure functions, no I/O)."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.chat import ActionInvocation, Conversation, Invocation, Requester

from .ids import MessageRef, parse_action_id

PLATFORM = "slack"

Reply = Callable[..., Awaitable[object]]
"""Bolt's ``ack`` / ``respond`` callables."""


@dataclass(eq=False, slots=True)
class SlashContext:
    """A pending slash command: ``ack`` answers it (at most once, within 3 s);
    ``respond`` posts ephemerally through its ``response_url`` afterwards."""

    ack: Reply
    respond: Reply | None = None
    acked: bool = False


@dataclass(frozen=True, slots=True)
class MentionContext:
    """An ``app_mention``: ``in_thread`` tells whether it was written inside a thread."""

    ts: str
    in_thread: bool


def slash_invocation(body: Mapping[str, Any], context: SlashContext) -> Invocation:
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
    mention message itself when it was written in the channel."""
    ts = str(event["ts"])
    parent = _str_or_none(event.get("thread_ts"))
    user_id = str(event["user"])
    return Invocation(
        conversation=Conversation(PLATFORM, team_id, str(event["channel"]), parent or ts),
        requester=Requester(user_id, user_id),
        text=strip_mention(str(event.get("text", "")), bot_user_id),
        context=MentionContext(ts, in_thread=parent is not None and parent != ts),
    )


def strip_mention(text: str, bot_user_id: str) -> str:
    """Remove every ``<@BOT>`` / ``<@BOT|name>`` token and tidy the spaces."""
    without = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    return " ".join(without.split())


def action_invocation(body: Mapping[str, Any]) -> ActionInvocation | None:
    """A Re-roll / Delete button press, or None for anything that is not ours."""
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
    user = as_mapping(body.get("user"))
    user_id = str(user.get("id", ""))
    team = as_mapping(body.get("team"))
    file_id = _str_or_none(action.get("value"))
    return ActionInvocation(
        conversation=Conversation(PLATFORM, str(team.get("id", "")), channel, thread),
        requester=Requester(user_id, str(user.get("username") or user.get("name") or user_id)),
        kind=kind,
        job_id=job_id,
        message_id=str(MessageRef(ts, file_id)),
        index=index,
    )


def as_mapping(value: object) -> Mapping[str, Any]:
    """Slack payload parts we expect to be objects; anything else reads as empty."""
    return value if isinstance(value, Mapping) else {}


def _str_or_none(value: object) -> str | None:
    return str(value) if value else None
