"""Slack Web API failures → :class:`DeliveryError` worded for the person who asked."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError, SlackRequestError

from bot.chat import DeliveryError

NOT_A_MEMBER = frozenset({"not_in_channel", "channel_not_found"})
ARCHIVED = frozenset({"is_archived"})
AUTH = frozenset(
    {"not_authed", "invalid_auth", "account_inactive", "token_revoked", "token_expired"}
)
GONE = frozenset({"message_not_found", "cant_update_message", "cant_delete_message"})
FORBIDDEN = frozenset(
    {"restricted_action", "restricted_action_read_only_channel", "ekm_access_denied"}
)
TRANSIENT = frozenset(
    {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
)
LAYOUT = frozenset({"invalid_blocks", "invalid_blocks_format", "invalid_arguments"})
"""Slack refused the message's blocks: sending the same again cannot help."""
TRIGGER_ERRORS = frozenset({"expired_trigger_id", "invalid_trigger_id", "exchanged_trigger_id"})
"""``views.open`` came too late (after 3 s), twice, or with a trigger Slack did not issue."""
ALREADY_GONE = frozenset(
    {"message_not_found", "file_not_found", "file_deleted", "cant_delete_file"}
)
"""Errors that mean a delete has nothing (more) to do."""

TRANSPORT_ERRORS: tuple[type[BaseException], ...] = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    SlackRequestError,
)


class TriggerExpired(DeliveryError):
    """``views.open`` was refused for its ``trigger_id`` (see :data:`TRIGGER_ERRORS`)."""


def api_error_code(exc: SlackApiError) -> str:
    response: Any = exc.response
    try:
        return str(response["error"])
    except (KeyError, TypeError):
        return "unknown_error"


def delivery_error(exc: SlackApiError, *, bot_name: str) -> DeliveryError:
    """Translate a Slack error code; ``bot_name`` goes into the invite hint."""
    code = api_error_code(exc)
    if code in NOT_A_MEMBER:
        return DeliveryError(
            f"I can't post in this channel because I'm not a member of it. "
            f"Invite me with `/invite @{bot_name}` and try again.",
            permanent=True,
        )
    if code in ARCHIVED:
        return DeliveryError("This channel is archived, so I can't post in it.", permanent=True)
    if code in AUTH:
        return DeliveryError(
            "Slack refused the bot's token — an admin needs to check SLACK_BOT_TOKEN.",
            permanent=True,
        )
    if code == "missing_scope":
        needed = _needed_scope(exc)
        return DeliveryError(
            f"The Slack app lacks a permission{needed} — an admin needs to reinstall it "
            "from docs/slack-app-manifest.yaml.",
            permanent=True,
        )
    if code in GONE:
        return DeliveryError("That message no longer exists in Slack.", permanent=True)
    if code in LAYOUT:
        return DeliveryError(
            f"Slack refused the message's layout ({code}). That is a bug in the bot: "
            "please tell its admins.",
            permanent=True,
        )
    if code in FORBIDDEN:
        return DeliveryError("Slack does not allow me to post here.", permanent=True)
    if code in TRANSIENT:
        return DeliveryError(
            f"Slack is busy right now ({code}); please try again in a minute.", permanent=False
        )
    return DeliveryError(f"Slack refused the message ({code}).", permanent=False)


def transport_error(exc: BaseException, *, uploading: bool = False) -> DeliveryError:
    """A connection problem, a timeout, or a refused upload (after the SDK's retries)."""
    if uploading and isinstance(exc, SlackRequestError):
        return DeliveryError(
            "Uploading the image to Slack failed (Slack's file service refused it).",
            permanent=False,
        )
    return DeliveryError(
        f"I couldn't reach Slack ({type(exc).__name__}); please try again in a minute.",
        permanent=False,
    )


def _needed_scope(exc: SlackApiError) -> str:
    response: Any = exc.response
    try:
        needed = response.get("needed")
    except AttributeError:
        return ""
    return f" ({needed})" if isinstance(needed, str) and needed else ""
