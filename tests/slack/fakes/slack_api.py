"""A fake of Slack's Web API and Socket Mode server, as a real aiohttp server on loopback.

It keeps channels' messages, files, uploaded bytes, user groups and users like Slack
would, records every call, answers ``missing_scope`` for a method whose scope the token
lacks (the token has the manifest's scopes unless a test takes some away), and has knobs
for the failures the adapter must survive (429 with Retry-After, ``not_in_channel``,
refused uploads, any error code for a method, a method held until the test lets it answer).

Like Slack it refuses blocks beyond Block Kit's limits (``invalid_blocks``, see
:mod:`tests.slack.fakes.blocks`), honours a ``trigger_id`` only once and only for
:data:`TRIGGER_LIFETIME` seconds of its (injectable) clock after it issued it with a button
press or a shortcut, and serves files' ``url_private`` only to the bot token with
``files:read`` (anyone else gets the sign-in page, with a 200, as Slack does)."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType, TracebackType
from typing import Any, Self

from aiohttp import WSMsgType, web

from bot.clock import Clock, SystemClock
from tests.slack.fakes.blocks import message_errors, view_errors
from tests.slack.fakes.manifest import bot_scopes

BOT_TOKEN = "xoxb-fake-bot-token-0123456789"
APP_TOKEN = "xapp-fake-app-token-0123456789"
TEAM = "T0FAKE"
BOT_USER = "UBOT0001"
BOT_ID = "BBOT0001"
BOT_NAME = "imagine"
JSON_FIELDS = ("blocks", "metadata", "files", "view")
TRIGGER_LIFETIME = 3.0
"""Seconds a ``trigger_id`` can be exchanged for a modal (Slack: 3 s)."""
SIGN_IN_PAGE = "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in</body></html>"
METHOD_SCOPES: Mapping[str, str] = MappingProxyType(
    {
        "chat.postMessage": "chat:write",
        "chat.update": "chat:write",
        "chat.delete": "chat:write",
        "chat.postEphemeral": "chat:write",
        "files.getUploadURLExternal": "files:write",
        "files.completeUploadExternal": "files:write",
        "files.delete": "files:write",
        "usergroups.list": "usergroups:read",
        "users.info": "users:read",
        "files.info": "files:read",
    }
)
"""The bot scope each method needs (Slack's method reference); conversations.replies
needs ``channels:history`` in public channels (``C…``), ``groups:history`` in private ones."""


@dataclass
class ApiCall:
    method: str
    params: dict[str, Any]
    token: str | None = field(repr=False)
    status: int
    at: float  # time.monotonic()


@dataclass
class Message:
    channel: str
    ts: str
    user: str
    text: str
    thread_ts: str | None = None
    blocks: list[dict[str, Any]] | None = None
    metadata: dict[str, Any] | None = None
    files: list[str] = field(default_factory=list)
    edits: list[str] = field(default_factory=list)

    @property
    def action_ids(self) -> list[str]:
        return [
            element["action_id"]
            for block in self.blocks or []
            for element in block.get("elements", [])
            if "action_id" in element
        ]


@dataclass
class StoredFile:
    id: str
    name: str
    length: int
    title: str = ""
    data: bytes | None = field(default=None, repr=False)
    deleted: bool = False
    mimetype: str = ""
    user: str = BOT_USER


@dataclass
class Trigger:
    user: str
    issued_at: float
    used: bool = False


@dataclass
class OpenView:
    """A modal Slack showed someone (``views.open``)."""

    id: str
    user: str
    view: dict[str, Any]

    @property
    def callback_id(self) -> str:
        return str(self.view.get("callback_id", ""))

    @property
    def private_metadata(self) -> str:
        return str(self.view.get("private_metadata", ""))

    def input(self) -> dict[str, Any]:
        """The view's (one) text input element."""
        [block] = [b for b in self.view["blocks"] if b["type"] == "input"]
        return dict(block["element"])


@dataclass
class UserGroup:
    id: str
    handle: str
    users: list[str] = field(default_factory=list)
    disabled: bool = False


@dataclass
class SlackUser:
    id: str
    is_admin: bool = False
    is_owner: bool = False
    is_primary_owner: bool = False


@dataclass(frozen=True)
class Ephemeral:
    channel: str
    user: str
    text: str
    thread_ts: str | None


class FakeSlack:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock: Clock = clock or SystemClock()
        """What trigger lifetimes are measured on (a test may move it by hand)."""
        # knobs
        self.rate_limit_once: dict[str, int] = {}
        """method -> Retry-After seconds: the next call of it is answered 429 (once)."""
        self.not_in_channel: set[str] = set()
        self.upload_status = 200
        self.replies_page_size = 200
        self.scopes: set[str] = set(bot_scopes())
        """The bot token's scopes: the manifest's, unless a test removes some."""
        self.failing: dict[str, str] = {}
        """method -> error code it answers (e.g. ``internal_error``) until removed."""
        self.held: dict[str, asyncio.Event] = {}
        """method -> gate: its calls wait until the test sets the event (see :meth:`hold`)."""
        self.file_redirects: dict[str, str] = {}
        """file id -> URL its ``url_private`` redirects to (302), for off-host redirects."""
        # the workspace
        self.usergroups: dict[str, UserGroup] = {}
        self.users: dict[str, SlackUser] = {}
        """People with flags; any other ``U…`` id is an ordinary member."""
        # state and records
        self.calls: list[ApiCall] = []
        self.messages: list[Message] = []
        self.files: dict[str, StoredFile] = {}
        self.ephemerals: list[Ephemeral] = []
        self.responses: list[tuple[str, dict[str, Any]]] = []
        self.acks: list[dict[str, Any]] = []
        self.arrivals: list[str] = []
        """Methods in the order their calls arrived (before any hold or answer)."""
        self.views: list[OpenView] = []
        self._triggers: dict[str, Trigger] = {}
        self._ts = itertools.count(1)
        self._file_ids = itertools.count(1)
        self._trigger_ids = itertools.count(1)
        self._view_ids = itertools.count(1)
        self._changed = asyncio.Condition()
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_ready = asyncio.Event()
        self._pending_acks: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=20 * 1024 * 1024)
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_post("/upload/{file_id}", self._upload)
        app.router.add_get("/files-pri/{team_file}/{name}", self._file)
        app.router.add_post("/response/{name}", self._response_url)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        for ws in list(self._sockets):
            await ws.close()
        assert self._runner is not None
        await self._runner.cleanup()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_base(self) -> str:
        return f"{self.base_url}/api/"

    def response_url(self, name: str) -> str:
        return f"{self.base_url}/response/{name}"

    def url_private(self, file_id: str) -> str:
        """Where the file is served to the bot token (Slack: ``https://files.slack.com/…``)."""
        return f"{self.base_url}/files-pri/{TEAM}-{file_id}/{self.files[file_id].name}"

    def issue_trigger(self, user: str) -> str:
        """A ``trigger_id`` as Slack puts in a button press or shortcut payload for ``user``."""
        trigger_id = f"{next(self._trigger_ids)}.1700000000.{uuid.uuid4().hex[:16]}"
        self._triggers[trigger_id] = Trigger(user, self.clock.monotonic())
        return trigger_id

    def hold(self, method: str) -> asyncio.Event:
        """Calls of ``method`` wait (after arriving) until the returned event is set."""
        return self.held.setdefault(method, asyncio.Event())

    # -- queries for tests -------------------------------------------------------------

    def calls_to(self, method: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method == method]

    def thread(self, channel: str, ts: str) -> list[Message]:
        return [m for m in self.messages if m.channel == channel and ts in (m.ts, m.thread_ts)]

    def message(self, ts: str) -> Message | None:
        return next((m for m in self.messages if m.ts == ts), None)

    def live_files(self) -> list[StoredFile]:
        return [f for f in self.files.values() if not f.deleted and f.data is not None]

    async def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds; it is checked after every change."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(predicate)

    def post_user_message(
        self,
        channel: str,
        user: str,
        text: str,
        thread_ts: str | None = None,
        files: list[str] | None = None,
    ) -> Message:
        """A person writes in a channel (e.g. the message that mentions the bot)."""
        message = Message(channel, self._next_ts(), user, text, thread_ts, files=files or [])
        self.messages.append(message)
        return message

    def add_user_file(self, user: str, name: str, data: bytes, mimetype: str) -> StoredFile:
        """A file a person uploaded (share it with ``post_user_message(files=[id])``)."""
        file_id = f"F{next(self._file_ids):08d}"
        stored = StoredFile(file_id, name, len(data), name, data, mimetype=mimetype, user=user)
        self.files[file_id] = stored
        return stored

    def file_object(self, file_id: str) -> dict[str, Any]:
        """The file as Slack describes it in events, messages and ``files.info``."""
        stored = self.files[file_id]
        return {
            "id": stored.id,
            "name": stored.name,
            "title": stored.title,
            "mimetype": stored.mimetype,
            "filetype": stored.name.rsplit(".", 1)[-1],
            "size": stored.length,
            "user": stored.user,
            "url_private": self.url_private(file_id),
            "url_private_download": self.url_private(file_id) + "?download=1",
        }

    def rendered(self, message: Message) -> dict[str, Any]:
        """The message as Slack renders it in payloads (a shortcut's ``message``)."""
        return self._render(message)

    async def response(self, name: str, timeout: float = 10.0) -> dict[str, Any]:
        """The (first) answer posted to the ``response_url`` called ``name``."""

        def answers() -> list[dict[str, Any]]:
            return [body for posted, body in self.responses if posted == name]

        await self.wait_for(lambda: bool(answers()), timeout)
        return answers()[0]

    # -- the workspace: user groups change as an admin would change them ----------------
    # Each returns the event Slack sends to apps subscribed to it (deliver it with
    # ``SlackSide.event(event_callback(...))``).

    def create_group(self, group_id: str, handle: str, users: list[str]) -> dict[str, Any]:
        group = UserGroup(group_id, handle, list(users))
        self.usergroups[group_id] = group
        return {"type": "subteam_created", "subteam": self._render_group(group, users=False)}

    def add_to_group(self, group_id: str, *users: str) -> dict[str, Any]:
        group = self.usergroups[group_id]
        added = [u for u in users if u not in group.users]
        group.users.extend(added)
        return self._members_changed(group, added=added, removed=[])

    def remove_from_group(self, group_id: str, *users: str) -> dict[str, Any]:
        group = self.usergroups[group_id]
        removed = [u for u in users if u in group.users]
        group.users[:] = [u for u in group.users if u not in removed]
        return self._members_changed(group, added=[], removed=removed)

    def disable_group(self, group_id: str) -> dict[str, Any]:
        group = self.usergroups[group_id]
        group.disabled = True
        return {"type": "subteam_updated", "subteam": self._render_group(group, users=True)}

    def _members_changed(
        self, group: UserGroup, *, added: list[str], removed: list[str]
    ) -> dict[str, Any]:
        return {
            "type": "subteam_members_changed",
            "subteam_id": group.id,
            "team_id": TEAM,
            "date_previous_update": 1_700_000_000,
            "date_update": 1_700_000_100,
            "added_users": added,
            "added_users_count": str(len(added)),
            "removed_users": removed,
            "removed_users_count": str(len(removed)),
        }

    # -- Socket Mode -------------------------------------------------------------------

    async def socket_connected(self, timeout: float = 10.0) -> None:
        async with asyncio.timeout(timeout):
            await self._socket_ready.wait()

    async def send_envelope(
        self,
        kind: str,
        payload: Mapping[str, Any],
        *,
        retry_attempt: int = 0,
        timeout: float = 5.0,
    ) -> dict[str, Any]:
        """Send an envelope over the open socket and wait for the app's ack."""
        envelope_id = str(uuid.uuid4())
        envelope: dict[str, Any] = {
            "envelope_id": envelope_id,
            "type": kind,
            "payload": dict(payload),
            "accepts_response_payload": kind != "events_api",
        }
        if kind == "events_api":
            envelope["retry_attempt"] = retry_attempt
            envelope["retry_reason"] = "timeout" if retry_attempt else ""
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending_acks[envelope_id] = future
        await self._sockets[-1].send_str(json.dumps(envelope))
        async with asyncio.timeout(timeout):
            return await future

    async def _socket(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_str(
            json.dumps(
                {
                    "type": "hello",
                    "num_connections": len(self._sockets),
                    "connection_info": {"app_id": "A0FAKE"},
                    "debug_info": {"host": "fake"},
                }
            )
        )
        self._socket_ready.set()
        try:
            async for msg in ws:
                if msg.type != WSMsgType.TEXT:
                    continue
                ack = json.loads(msg.data)
                self.acks.append(ack)
                future = self._pending_acks.pop(str(ack.get("envelope_id")), None)
                if future is not None and not future.done():
                    future.set_result(ack)
        finally:
            self._sockets.remove(ws)
        return ws

    # -- HTTP endpoints ----------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await _params(request)
        token = _bearer(request)
        self.arrivals.append(method)
        async with self._changed:
            self._changed.notify_all()
        gate = self.held.get(method)
        if gate is not None:
            await gate.wait()
        retry_after = self.rate_limit_once.pop(method, None)
        if retry_after is not None:
            await self._record(ApiCall(method, params, token, 429, time.monotonic()))
            return web.json_response(
                {"ok": False, "error": "ratelimited"},
                status=429,
                headers={"Retry-After": str(retry_after)},
            )
        expected = APP_TOKEN if method == "apps.connections.open" else BOT_TOKEN
        headers: dict[str, str] = {}
        needed = _needed_scope(method, params)
        if token != expected:
            body: dict[str, Any] = {"ok": False, "error": "invalid_auth"}
        elif token == BOT_TOKEN and needed is not None and needed not in self.scopes:
            body = {
                "ok": False,
                "error": "missing_scope",
                "needed": needed,
                "provided": ",".join(sorted(self.scopes)),
            }
        elif method in self.failing:
            body = {"ok": False, "error": self.failing[method]}
        else:
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            body = (
                handler(params) if handler is not None else {"ok": False, "error": "unknown_method"}
            )
        if token == BOT_TOKEN:
            headers["X-OAuth-Scopes"] = ",".join(sorted(self.scopes))  # as Slack sends it
        await self._record(ApiCall(method, params, token, 200, time.monotonic()))
        return web.json_response(body, headers=headers)

    async def _upload(self, request: web.Request) -> web.Response:
        stored = self.files.get(request.match_info["file_id"])
        data = await request.read()
        if stored is None:
            return web.Response(status=404, text="no such upload")
        if self.upload_status != 200:
            await self._record(ApiCall("upload", {"file": stored.id}, None, 500, time.monotonic()))
            return web.Response(status=self.upload_status, text="upload refused")
        stored.data = data
        await self._record(ApiCall("upload", {"file": stored.id}, None, 200, time.monotonic()))
        return web.Response(text=f"OK - {len(data)}")

    async def _file(self, request: web.Request) -> web.StreamResponse:
        """``url_private``: the bytes for the bot token with ``files:read``, Slack's sign-in
        page (200, HTML) for anyone else."""
        team, _, file_id = request.match_info["team_file"].partition("-")
        stored = self.files.get(file_id)
        token = _bearer(request)
        allowed = token == BOT_TOKEN and "files:read" in self.scopes
        if stored is None or team != TEAM or stored.deleted or stored.data is None:
            response: web.StreamResponse = web.Response(status=404, text="file not found")
        elif file_id in self.file_redirects:
            response = web.Response(status=302, headers={"Location": self.file_redirects[file_id]})
        elif not allowed:
            response = web.Response(text=SIGN_IN_PAGE, content_type="text/html")
        else:
            response = web.Response(body=stored.data, content_type=stored.mimetype or None)
        await self._record(
            ApiCall("file", {"file": file_id}, token, response.status, time.monotonic())
        )
        return response

    async def _response_url(self, request: web.Request) -> web.Response:
        self.responses.append((request.match_info["name"], await request.json()))
        await self._record(ApiCall("response_url", {}, None, 200, time.monotonic()))
        return web.Response(text="ok")

    async def _record(self, call: ApiCall) -> None:
        self.calls.append(call)
        async with self._changed:
            self._changed.notify_all()

    # -- Web API methods ---------------------------------------------------------------

    def _m_auth_test(self, p: dict[str, Any]) -> dict[str, Any]:
        return {
            "ok": True,
            "url": "https://fake.slack.com/",
            "team": "Fake",
            "user": BOT_NAME,
            "team_id": TEAM,
            "user_id": BOT_USER,
            "bot_id": BOT_ID,
            "is_enterprise_install": False,
        }

    def _m_apps_connections_open(self, p: dict[str, Any]) -> dict[str, Any]:
        return {"ok": True, "url": f"ws://127.0.0.1:{self.port}/socket?ticket={uuid.uuid4()}"}

    def _m_chat_postMessage(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p["channel"])
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        if refused := _invalid_blocks(p):
            return refused
        message = Message(
            channel,
            self._next_ts(),
            BOT_USER,
            str(p.get("text", "")),
            p.get("thread_ts") or None,
            p.get("blocks"),
            p.get("metadata"),
        )
        self.messages.append(message)
        return {"ok": True, "channel": channel, "ts": message.ts, "message": self._render(message)}

    def _m_chat_update(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._find(p)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        if refused := _invalid_blocks(p):
            return refused
        message.edits.append(message.text)
        message.text = str(p.get("text", ""))
        if "blocks" in p:  # like Slack: given blocks replace the old ones ([] removes them)
            message.blocks = p["blocks"] or None
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _m_chat_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        message = self._find(p)
        if message is None:
            return {"ok": False, "error": "message_not_found"}
        self.messages.remove(message)
        return {"ok": True, "channel": message.channel, "ts": message.ts}

    def _m_chat_postEphemeral(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = str(p["channel"])
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        if refused := _invalid_blocks(p):
            return refused
        self.ephemerals.append(
            Ephemeral(channel, str(p["user"]), str(p.get("text", "")), p.get("thread_ts"))
        )
        return {"ok": True, "message_ts": self._next_ts()}

    def _m_chat_getPermalink(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p.get("channel", "")), str(p.get("message_ts", ""))
        if not any(m.channel == channel and m.ts == ts for m in self.messages):
            return {"ok": False, "error": "message_not_found"}
        link = f"https://fake.slack.com/archives/{channel}/p{ts.replace('.', '')}"
        return {"ok": True, "channel": channel, "permalink": link}

    def _m_views_open(self, p: dict[str, Any]) -> dict[str, Any]:
        trigger_id = str(p.get("trigger_id") or "")
        trigger = self._triggers.get(trigger_id)
        if trigger is None:
            return {"ok": False, "error": "invalid_trigger_id"}
        if trigger.used:
            return {"ok": False, "error": "exchanged_trigger_id"}
        if self.clock.monotonic() - trigger.issued_at > TRIGGER_LIFETIME:
            return {"ok": False, "error": "expired_trigger_id"}
        view = p.get("view")
        if errors := view_errors(view):
            return {
                "ok": False,
                "error": "invalid_arguments",
                "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
            }
        assert isinstance(view, dict)
        trigger.used = True
        opened = OpenView(f"V{next(self._view_ids):08d}", trigger.user, dict(view))
        self.views.append(opened)
        return {"ok": True, "view": {**view, "id": opened.id, "team_id": TEAM, "state": {}}}

    def _m_files_info(self, p: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(p.get("file", "")))
        if stored is None or stored.deleted:
            return {"ok": False, "error": "file_not_found"}
        return {"ok": True, "file": self.file_object(stored.id)}

    def _m_conversations_replies(self, p: dict[str, Any]) -> dict[str, Any]:
        channel, ts = str(p["channel"]), str(p["ts"])
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        thread = self.thread(channel, ts)
        if not thread:
            return {"ok": False, "error": "thread_not_found"}
        start = int(p.get("cursor") or 0)
        size = min(int(p.get("limit") or 1000), self.replies_page_size)
        page = thread[start : start + size]
        more = start + size < len(thread)
        with_metadata = _flag(p.get("include_all_metadata"))
        return {
            "ok": True,
            "messages": [self._render(m, with_metadata) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": str(start + size) if more else ""},
        }

    def _m_files_getUploadURLExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        file_id = f"F{next(self._file_ids):08d}"
        self.files[file_id] = StoredFile(file_id, str(p["filename"]), int(p["length"]))
        return {"ok": True, "file_id": file_id, "upload_url": f"{self.base_url}/upload/{file_id}"}

    def _m_files_completeUploadExternal(self, p: dict[str, Any]) -> dict[str, Any]:
        channel = p.get("channel_id")
        if channel in self.not_in_channel:
            return {"ok": False, "error": "not_in_channel"}
        done = []
        for item in p["files"]:
            stored = self.files.get(item["id"])
            if stored is None or stored.data is None:
                return {"ok": False, "error": "file_not_found"}
            stored.title = item.get("title") or stored.name
            done.append(stored)
        if channel:
            self.messages.append(
                Message(
                    str(channel),
                    self._next_ts(),
                    BOT_USER,
                    str(p.get("initial_comment") or ""),
                    p.get("thread_ts") or None,
                    files=[f.id for f in done],
                )
            )
        return {"ok": True, "files": [{"id": f.id, "title": f.title, "name": f.name} for f in done]}

    def _m_files_delete(self, p: dict[str, Any]) -> dict[str, Any]:
        stored = self.files.get(str(p["file"]))
        if stored is None or stored.deleted:
            return {"ok": False, "error": "file_not_found"}
        stored.deleted = True
        for message in self.messages:
            if stored.id in message.files:
                message.files.remove(stored.id)
        return {"ok": True}

    def _m_usergroups_list(self, p: dict[str, Any]) -> dict[str, Any]:
        with_users = _flag(p.get("include_users"))
        groups = [
            g
            for g in self.usergroups.values()
            if _flag(p.get("include_disabled")) or not g.disabled
        ]
        return {"ok": True, "usergroups": [self._render_group(g, users=with_users) for g in groups]}

    def _m_users_info(self, p: dict[str, Any]) -> dict[str, Any]:
        user_id = str(p.get("user", ""))
        user = self.users.get(user_id)
        if user is None:
            if not user_id.startswith(("U", "W")):
                return {"ok": False, "error": "user_not_found"}
            user = SlackUser(user_id)
        return {
            "ok": True,
            "user": {
                "id": user.id,
                "team_id": TEAM,
                "name": f"user-{user.id.lower()}",
                "deleted": False,
                "is_bot": user.id == BOT_USER,
                "is_admin": user.is_admin,
                "is_owner": user.is_owner,
                "is_primary_owner": user.is_primary_owner,
                "is_restricted": False,
            },
        }

    # -- helpers -----------------------------------------------------------------------

    def _render_group(self, group: UserGroup, *, users: bool) -> dict[str, Any]:
        rendered: dict[str, Any] = {
            "id": group.id,
            "team_id": TEAM,
            "is_usergroup": True,
            "name": group.handle.title(),
            "handle": group.handle,
            "date_delete": 1_700_000_200 if group.disabled else 0,
            "user_count": len(group.users),
        }
        if users:
            rendered["users"] = list(group.users)
        return rendered

    def _next_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _find(self, p: Mapping[str, Any]) -> Message | None:
        return next(
            (m for m in self.messages if m.channel == p.get("channel") and m.ts == p.get("ts")),
            None,
        )

    def _render(self, m: Message, with_metadata: bool = True) -> dict[str, Any]:
        rendered: dict[str, Any] = {"type": "message", "ts": m.ts, "user": m.user, "text": m.text}
        if m.user == BOT_USER:
            rendered["bot_id"] = BOT_ID
        if m.thread_ts:
            rendered["thread_ts"] = m.thread_ts
        if m.blocks:
            rendered["blocks"] = m.blocks
        if m.metadata and with_metadata:
            rendered["metadata"] = m.metadata
        if m.files:
            rendered["files"] = [self.file_object(f) for f in m.files]
        return rendered


def _needed_scope(method: str, params: Mapping[str, Any]) -> str | None:
    if method == "conversations.replies":
        return (
            "groups:history"
            if str(params.get("channel", "")).startswith("G")
            else ("channels:history")
        )
    return METHOD_SCOPES.get(method)


def _invalid_blocks(params: Mapping[str, Any]) -> dict[str, Any] | None:
    """Slack's answer to blocks beyond Block Kit's limits, or None when they are fine."""
    if params.get("blocks") is None:
        return None
    errors = message_errors(params["blocks"])
    if not errors:
        return None
    return {
        "ok": False,
        "error": "invalid_blocks",
        "errors": errors,
        "response_metadata": {"messages": [f"[ERROR] {e}" for e in errors]},
    }


def _bearer(request: web.Request) -> str | None:
    auth = request.headers.get("Authorization", "")
    return auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None


def _flag(value: object) -> bool:
    """Slack's boolean arguments: ``1``/``true`` (slack_sdk sends ``1``)."""
    return str(value).lower() in ("1", "true")


async def _params(request: web.Request) -> dict[str, Any]:
    """Query string, form and JSON body merged, with Slack's JSON-in-a-string fields decoded."""
    params: dict[str, Any] = dict(request.query)
    if request.can_read_body:
        if request.content_type == "application/json":
            params.update(await request.json())
        else:
            params.update({k: v for k, v in (await request.post()).items() if isinstance(v, str)})
    for name in JSON_FIELDS:
        if isinstance(params.get(name), str):
            params[name] = json.loads(params[name])
    return params
