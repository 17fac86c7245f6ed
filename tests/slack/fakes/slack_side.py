"""Slack's side of the conversation: payloads as Slack sends them, delivered either to
the adapter's HTTP endpoint (signed like Slack signs them) or over Socket Mode."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
import uuid
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlencode

import aiohttp

from tests.slack.fakes.slack_api import BOT_ID, TEAM, FakeSlack, Message, OpenView

SIGNING_SECRET = "fake-signing-secret-0123456789abcdef"


def sign(
    body: str, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Slack's request signature: HMAC-SHA256 over ``v0:{timestamp}:{body}``."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{ts}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": f"v0={digest}"}


def slash_payload(
    fake: FakeSlack,
    text: str,
    *,
    user: str = "U1",
    channel: str = "C1",
    name: str = "slash",
    command: str = "/imagine",
) -> dict[str, str]:
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "team_domain": "fake",
        "channel_id": channel,
        "channel_name": "general",
        "user_id": user,
        "user_name": f"user-{user.lower()}",
        "command": command,
        "text": text,
        "api_app_id": "A0FAKE",
        "response_url": fake.response_url(name),
        "trigger_id": "1.2.3",
    }


def mention_event(
    text: str,
    *,
    ts: str,
    user: str = "U1",
    channel: str = "C1",
    thread_ts: str | None = None,
    files: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """An ``app_mention``; ``files`` as Slack describes them (``FakeSlack.file_object``)."""
    event: dict[str, Any] = {
        "type": "app_mention",
        "user": user,
        "text": text,
        "ts": ts,
        "channel": channel,
        "team": TEAM,
        "event_ts": ts,
    }
    if thread_ts is not None:
        event["thread_ts"] = thread_ts
    if files:
        event["files"] = files
        event["upload"] = False
    return event_callback(event)


def event_callback(event: dict[str, Any]) -> dict[str, Any]:
    """An Events API delivery of ``event``, as Slack wraps it."""
    return {
        "token": "legacy-verification-token",
        "team_id": TEAM,
        "api_app_id": "A0FAKE",
        "event": event,
        "type": "event_callback",
        "event_id": f"Ev{uuid.uuid4().hex[:12].upper()}",  # unique, like Slack's
        "event_time": int(time.time()),
        "authorizations": [{"team_id": TEAM, "user_id": "UBOT0001", "is_bot": True}],
    }


def button_payload(
    fake: FakeSlack, *, message_ts: str, action_id: str, value: str, user: str, channel: str = "C1"
) -> dict[str, Any]:
    message = fake.message(message_ts)
    thread_ts = message.thread_ts if message is not None else None
    return {
        "type": "block_actions",
        "user": {"id": user, "username": f"user-{user.lower()}", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "team": {"id": TEAM, "domain": "fake"},
        "container": {
            "type": "message",
            "message_ts": message_ts,
            "channel_id": channel,
            "is_ephemeral": False,
            "thread_ts": thread_ts,
        },
        "trigger_id": fake.issue_trigger(user),
        "channel": {"id": channel, "name": "general"},
        "message": {"type": "message", "ts": message_ts, "thread_ts": thread_ts, "text": ""},
        "response_url": fake.response_url(f"action-{message_ts}"),
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "b1",
                "value": value,
                "action_ts": str(time.time()),
            }
        ],
    }


def shortcut_payload(
    fake: FakeSlack,
    message: Message,
    *,
    callback_id: str,
    user: str = "U1",
    name: str = "shortcut",
) -> dict[str, Any]:
    """A message shortcut (the message's "More actions" menu) used on ``message``."""
    return {
        "type": "message_action",
        "token": "legacy-verification-token",
        "action_ts": str(time.time()),
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": user, "username": f"user-{user.lower()}", "team_id": TEAM},
        "channel": {"id": message.channel, "name": "general"},
        "is_enterprise_install": False,
        "callback_id": callback_id,
        "trigger_id": fake.issue_trigger(user),
        "response_url": fake.response_url(name),
        "message_ts": message.ts,
        "message": fake.rendered(message),
    }


def view_submission_payload(fake: FakeSlack, view: OpenView, text: str) -> dict[str, Any]:
    """Its user submits the modal ``view`` with ``text`` in its text input."""
    [block] = [b for b in view.view["blocks"] if b["type"] == "input"]
    values = {
        block["block_id"]: {
            block["element"]["action_id"]: {"type": "plain_text_input", "value": text}
        }
    }
    return {
        "type": "view_submission",
        "token": "legacy-verification-token",
        "team": {"id": TEAM, "domain": "fake"},
        "user": {"id": view.user, "username": f"user-{view.user.lower()}", "team_id": TEAM},
        "api_app_id": "A0FAKE",
        "trigger_id": fake.issue_trigger(view.user),
        "view": {
            **view.view,
            "id": view.id,
            "team_id": TEAM,
            "state": {"values": values},
            "hash": f"{int(time.time())}.{uuid.uuid4().hex[:8]}",
            "root_view_id": view.id,
            "previous_view_id": None,
            "app_id": "A0FAKE",
            "bot_id": BOT_ID,
        },
        "response_urls": [],
        "is_enterprise_install": False,
    }


@dataclass(frozen=True)
class Ack:
    """The adapter's answer: HTTP status (or 200 for a Socket Mode ack), its text, and
    the body as sent (HTTP mode) or the envelope ack's payload ("" for none)."""

    status: int
    text: str
    raw: str = ""


class SlackSide(Protocol):
    async def slash(self, payload: dict[str, str]) -> Ack: ...

    async def event(self, body: dict[str, Any], *, retry_num: int = 0) -> Ack: ...

    async def action(self, payload: dict[str, Any]) -> Ack: ...


class HttpSlackSide:
    """Posts signed requests to the adapter's ``/slack/events`` endpoint."""

    def __init__(self, session: aiohttp.ClientSession, port: int) -> None:
        self._session = session
        self.url = f"http://127.0.0.1:{port}/slack/events"

    async def post(
        self, body: str, content_type: str, *, headers: dict[str, str] | None = None
    ) -> Ack:
        all_headers = {
            "Content-Type": content_type,
            **(headers if headers is not None else sign(body)),
        }
        async with self._session.post(self.url, data=body, headers=all_headers) as response:
            raw = await response.text()
        text = raw
        if raw.startswith("{"):
            text = str(json.loads(raw).get("text", ""))
        return Ack(response.status, text, raw)

    async def slash(self, payload: dict[str, str]) -> Ack:
        return await self.post(urlencode(payload), "application/x-www-form-urlencoded")

    async def event(self, body: dict[str, Any], *, retry_num: int = 0) -> Ack:
        raw = json.dumps(body)
        headers = sign(raw)
        if retry_num:
            headers["X-Slack-Retry-Num"] = str(retry_num)
            headers["X-Slack-Retry-Reason"] = "http_timeout"
        return await self.post(raw, "application/json", headers=headers)

    async def action(self, payload: dict[str, Any]) -> Ack:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post(body, "application/x-www-form-urlencoded")


class SocketSlackSide:
    """Sends envelopes over the fake's Socket Mode connection and returns the acks."""

    def __init__(self, fake: FakeSlack) -> None:
        self._fake = fake

    async def _send(self, kind: str, payload: dict[str, Any], retry: int = 0) -> Ack:
        ack = await self._fake.send_envelope(kind, payload, retry_attempt=retry)
        text = str((ack.get("payload") or {}).get("text", ""))
        return Ack(200, text, json.dumps(ack["payload"]) if "payload" in ack else "")

    async def slash(self, payload: dict[str, str]) -> Ack:
        return await self._send("slash_commands", payload)

    async def event(self, body: dict[str, Any], *, retry_num: int = 0) -> Ack:
        return await self._send("events_api", body, retry_num)

    async def action(self, payload: dict[str, Any]) -> Ack:
        return await self._send("interactive", payload)
