"""A local fake of Discord's REST API and gateway that the real discord.py client
connects to (aiohttp on 127.0.0.1, port 0).

Reached only through ``DiscordSettings(api_base=fake.api_base,
gateway_url=fake.gateway_url)``. It keeps what a user would see (messages with
their attachment bytes, threads, ephemeral answers) and what the bot asked for
(command schemas, IDENTIFY, every request), and behaves like Discord where the
adapter relies on it: shards (an IDENTIFY's ``shard: [id, count]`` gets the guilds
with ``(guild_id >> 22) % count == id``, each guild's events go to its shard's session
only, ``GET /gateway/bot`` recommends :attr:`FakeDiscord.shard_count`, 4010 for an
invalid shard), thread id == starter message id, ``enforce_nonce``
deduplication, 429 with ``Retry-After`` + ``X-RateLimit-*`` on demand, 403/404
with Discord's error codes, 413 above ``attachment_size_limit``, 400 Invalid Form Body
(50035) for components and modals beyond Discord's limits (``limits.py``), a modal
only as the first answer to a command or button press, and modal submits limited to
what a user could type. Files attached to commands it dispatches are served at
``/attachments/...`` on its own host.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Self
from urllib.parse import quote

from aiohttp import BodyPartReader, WSMsgType, hdrs, web

from tests.discord.fake import payloads
from tests.discord.fake.limits import invalid_form_body, message_component_errors, modal_errors
from tests.discord.fake.model import (
    DM_CHANNEL,
    EPHEMERAL,
    PUBLIC_THREAD,
    TEXT_CHANNEL,
    FakeAttachment,
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    RateLimitRule,
    RecordedRequest,
)

API_PREFIX = "/api/v10"
DEFAULT_LIMIT = 10 * 1024 * 1024
Json = dict[str, Any]
_Route = Callable[[web.Request, re.Match[str]], Awaitable[web.StreamResponse]]

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 2, 3, 4, 5
MODAL_RESPONSE = 9
ATTACHMENT_OPTION = 11

# Member permissions of an ordinary user (no Manage Messages).
MEMBER_PERMISSIONS = 0x0000_0000_0004_0C40
MANAGE_MESSAGES = 1 << 13


@dataclass
class _Session:
    ws: web.WebSocketResponse
    seq: int = 0
    identified: bool = False
    shard: tuple[int, int] | None = None
    """``[id, count]`` from its IDENTIFY (``None``: unsharded, every guild)."""
    ready: bool = False
    """READY was sent (an IDENTIFY for a shard that is down gets none)."""

    def holds(self, guild_id: int) -> bool:
        """Whether Discord sends this guild's events to this session."""
        if self.shard is None:
            return True
        shard_id, count = self.shard
        return (guild_id >> 22) % count == shard_id


@dataclass
class _Routes:
    table: list[tuple[str, re.Pattern[str], _Route]] = field(default_factory=list)

    def add(self, method: str, pattern: str, handler: _Route) -> None:
        self.table.append((method, re.compile(pattern), handler))

    def find(self, method: str, path: str) -> tuple[_Route, re.Match[str]] | None:
        for route_method, pattern, handler in self.table:
            match = pattern.fullmatch(path)
            if match and route_method == method:
                return handler, match
        return None


def _json(data: object, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    """Like Discord: ``Content-Type: application/json`` exactly (discord.py compares it)."""
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={**(headers or {}), hdrs.CONTENT_TYPE: "application/json"},
    )


def _error(status: int, message: str, code: int) -> web.Response:
    return _json({"message": message, "code": code}, status=status)


def _bad_callback(message: str) -> web.Response:
    errors = {
        "type": {"_errors": [{"code": "INTERACTION_CALLBACK_TYPE_INVALID", "message": message}]}
    }
    return _json(invalid_form_body(errors), status=400)


class FakeDiscord:
    def __init__(
        self,
        *,
        token: str = "fake-bot-token",  # noqa: S107
        attachment_size_limit: int = DEFAULT_LIMIT,
        nonce_window: float = 300.0,
        heartbeat_interval_ms: int = 41_250,
        shard_count: int = 1,
        max_concurrency: int = 1,
    ) -> None:
        self.token = token
        self.shard_count = shard_count
        """What ``GET /gateway/bot`` recommends; :meth:`add_guild` places guilds by it."""
        self.max_concurrency = max_concurrency
        self.attachment_size_limit = attachment_size_limit
        self.nonce_window = nonce_window
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self._ids = itertools.count(1_300_000_000_000_000_000)
        self.bot_user = FakeUser(self._next_id(), "imagine", bot=True)
        self.application_id = self.bot_user.id
        self.guilds: dict[int, FakeGuild] = {}
        self.guild_id = self._add_guild("Fake Guild", 0).id
        """The default guild (on shard 0), where :attr:`general` is."""
        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user}
        self.channels: dict[int, FakeChannel] = {}
        self.messages: dict[int, FakeMessage] = {}
        self.interactions: dict[int, FakeInteraction] = {}
        self.requests: list[RecordedRequest] = []
        self.synced_commands: dict[int | None, list[Json]] = {}
        """Last bulk-overwrite body per scope (``None`` = global, else a guild id)."""
        self.identifies: list[Json] = []
        self.gateway_queries: list[dict[str, str]] = []
        self.denied: dict[int, int] = {}
        """Channel id → status (403/404) returned for writes there."""
        self.uploads: dict[int, FakeAttachment] = {}
        """Files users attached to commands, served at ``/attachments/{id}/{name}``."""
        self.deduplicated: list[str] = []
        """Nonces of posts dropped as duplicates (``enforce_nonce``), in order."""
        self.file_requests: list[str] = []
        """Paths of every ``/attachments/...`` request, in order."""
        self._rate_limits: list[RateLimitRule] = []
        self._nonces: dict[tuple[int, str], tuple[float, int]] = {}
        self._sessions: list[_Session] = []
        self._down_shards: set[int] = set()
        self._changed = asyncio.Condition()
        self._routes = self._build_routes()
        self._runner: web.AppRunner | None = None
        self._port = 0
        self.general = self.add_channel("general")

    # -- lifecycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", API_PREFIX + "/{tail:.*}", self._rest)
        app.router.add_get("/gateway", self._gateway)
        app.router.add_get("/attachments/{id}/{name}", self._serve_file)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None and hasattr(server, "sockets")
        self._port = server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        for session in list(self._sessions):
            await session.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"http://127.0.0.1:{self._port}{API_PREFIX}"

    @property
    def gateway_url(self) -> str:
        return f"ws://127.0.0.1:{self._port}/gateway"

    # -- world building ----------------------------------------------------------------

    def _next_id(self) -> int:
        return next(self._ids)

    def add_user(self, name: str) -> FakeUser:
        user = FakeUser(self._next_id(), name)
        self.users[user.id] = user
        return user

    def _add_guild(self, name: str, shard: int) -> FakeGuild:
        # A snowflake's shard is (id >> 22) % count: step to a millisecond on that shard.
        millis = (self._next_id() >> 22) + 1
        millis += (shard - millis) % self.shard_count
        guild = FakeGuild(millis << 22, name)
        self._ids = itertools.count(guild.id + 1)
        self.guilds[guild.id] = guild
        return guild

    def add_guild(self, name: str, *, shard: int) -> tuple[FakeGuild, FakeChannel]:
        """A server whose id puts it on ``shard`` (of :attr:`shard_count`), and its
        #general. Sessions connected before it was added don't know it."""
        if not 0 <= shard < self.shard_count:
            raise ValueError(f"shard {shard} of {self.shard_count}")
        guild = self._add_guild(name, shard)
        return guild, self.add_channel("general", guild)

    def shard_of(self, guild: FakeGuild | int, shard_count: int | None = None) -> int:
        guild_id = guild if isinstance(guild, int) else guild.id
        return (guild_id >> 22) % (shard_count or self.shard_count)

    def add_channel(self, name: str, guild: FakeGuild | None = None) -> FakeChannel:
        guild_id = guild.id if guild is not None else self.guild_id
        channel = FakeChannel(self._next_id(), TEXT_CHANNEL, name, guild_id)
        self.channels[channel.id] = channel
        return channel

    def add_thread(self, parent: FakeChannel, name: str) -> FakeChannel:
        thread = FakeChannel(
            self._next_id(),
            PUBLIC_THREAD,
            name,
            parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
        )
        self.channels[thread.id] = thread
        return thread

    def upload(
        self,
        filename: str,
        data: bytes,
        content_type: str | None = "image/png",
        *,
        url: str | None = None,
        declared_size: int | None = None,
    ) -> FakeAttachment:
        """A file a user attaches to a command (``url``: claim it lives elsewhere)."""
        upload = FakeAttachment(
            self._next_id(), filename, content_type, data, url=url, declared_size=declared_size
        )
        self.uploads[upload.id] = upload
        return upload

    def file_url(self, upload: FakeAttachment) -> str:
        if upload.url is not None:
            return upload.url
        return f"http://127.0.0.1:{self._port}/attachments/{upload.id}/{quote(upload.filename)}"

    def rate_limit(
        self, method: str, path_pattern: str, *, retry_after: float = 0.2, times: int = 1
    ) -> None:
        """Answer the next ``times`` matching requests with 429 (``path_pattern``: a regex)."""
        self._rate_limits.append(RateLimitRule(method, path_pattern, retry_after, times))

    # -- what users see ----------------------------------------------------------------

    def messages_in(self, channel: FakeChannel | int) -> list[FakeMessage]:
        channel_id = channel if isinstance(channel, int) else channel.id
        return [m for m in self.messages.values() if m.channel_id == channel_id and not m.deleted]

    def threads_of(self, parent: FakeChannel) -> list[FakeChannel]:
        return [c for c in self.channels.values() if c.parent_id == parent.id]

    def requests_to(self, method: str, path_pattern: str) -> list[RecordedRequest]:
        pattern = re.compile(path_pattern)
        return [r for r in self.requests if r.method == method and pattern.fullmatch(r.path)]

    async def until(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        """Wait until ``predicate()`` holds (re-checked on every change the bot makes)."""
        async with asyncio.timeout(timeout), self._changed:
            await self._changed.wait_for(predicate)

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- driving the bot ---------------------------------------------------------------

    async def slash_imagine(
        self,
        user: FakeUser,
        channel: FakeChannel,
        options: dict[str, str | int],
        *,
        app_permissions: int = payloads.ALL_PERMISSIONS,
        member_permissions: int = MEMBER_PERMISSIONS,
        attachment_size_limit: int | None = None,
        files: Mapping[str, FakeAttachment] | None = None,
    ) -> FakeInteraction:
        """A user runs ``/imagine`` with these options in ``channel``."""
        return await self.slash_command(
            user,
            channel,
            "imagine",
            options,
            app_permissions=app_permissions,
            member_permissions=member_permissions,
            attachment_size_limit=attachment_size_limit,
            files=files,
        )

    async def slash_command(
        self,
        user: FakeUser,
        channel: FakeChannel,
        name: str,
        options: dict[str, str | int],
        *,
        app_permissions: int = payloads.ALL_PERMISSIONS,
        member_permissions: int = MEMBER_PERMISSIONS,
        attachment_size_limit: int | None = None,
        files: Mapping[str, FakeAttachment] | None = None,
    ) -> FakeInteraction:
        """A user runs the slash command ``name`` with these options in ``channel``;
        ``files`` are attachment options (made with :meth:`upload`)."""
        scope = channel.guild_id if channel.guild_id in self.synced_commands else None
        synced = [c for c in self.synced_commands.get(scope, []) if c.get("name") == name]
        command_id = synced[0]["id"] if synced else "1"
        data: Json = {
            "id": str(command_id),
            "name": name,
            "type": 1,
            "options": [
                {"name": option, "type": 4 if isinstance(value, int) else 3, "value": value}
                for option, value in options.items()
            ],
        }
        if files:
            data["options"] += [
                {"name": option, "type": ATTACHMENT_OPTION, "value": str(upload.id)}
                for option, upload in files.items()
            ]
            data["resolved"] = {
                "attachments": {
                    str(upload.id): payloads.resolved_attachment(upload, self.file_url(upload))
                    for upload in files.values()
                }
            }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._interact(
            2, user, channel, data, None, app_permissions, member_permissions, attachment_size_limit
        )

    async def autocomplete(
        self, user: FakeUser, channel: FakeChannel, option: str, typed: str
    ) -> FakeInteraction:
        """A user is typing ``typed`` into ``/imagine``'s ``option``."""
        scope = channel.guild_id if channel.guild_id in self.synced_commands else None
        data: Json = {
            "id": str(self.synced_commands.get(scope, [{}])[0].get("id", "1")),
            "name": "imagine",
            "type": 1,
            "options": [
                {"name": "prompt", "type": 3, "value": "a fox"},
                {"name": option, "type": 3, "value": typed, "focused": True},
            ],
        }
        if scope is not None:
            data["guild_id"] = str(scope)
        return await self._interact(
            4, user, channel, data, None, payloads.ALL_PERMISSIONS, MEMBER_PERMISSIONS, None
        )

    async def click(
        self,
        user: FakeUser,
        message: FakeMessage,
        custom_id: str,
        *,
        member_permissions: int = MEMBER_PERMISSIONS,
    ) -> FakeInteraction:
        """A user presses the button ``custom_id`` under ``message``."""
        data: Json = {"custom_id": custom_id, "component_type": 2}
        channel = self.channels[message.channel_id]
        return await self._interact(
            3,
            user,
            channel,
            data,
            message,
            payloads.ALL_PERMISSIONS,
            member_permissions,
            None,
        )

    async def submit_modal(
        self, user: FakeUser, opened: FakeInteraction, values: Mapping[str, str] | None = None
    ) -> FakeInteraction:
        """``user`` submits the modal the bot answered ``opened`` with: each text input keeps
        its prefilled value unless ``values`` (by custom id) changes it. Like Discord's
        client, a value longer than the input's ``max_length`` can't be typed (ValueError)."""
        modal = opened.modal
        if modal is None:
            raise ValueError(f"interaction {opened.id} was not answered with a modal")
        values = dict(values or {})

        def filled(text_input: Json) -> Json:
            value = values.pop(str(text_input["custom_id"]), text_input.get("value") or "")
            if len(value) > int(text_input.get("max_length") or 4000):
                raise ValueError(f"{len(value)} characters don't fit {text_input['custom_id']}")
            return {"type": 4, "custom_id": text_input["custom_id"], "value": value}

        components: list[Json] = []
        for component in modal["components"]:
            if component["type"] == 18:
                components.append({"type": 18, "component": filled(component["component"])})
            else:
                components.append(
                    {"type": 1, "components": [filled(c) for c in component["components"]]}
                )
        if values:
            raise ValueError(f"the modal has no text input {sorted(values)}")
        message = self.messages.get(opened.message_id) if opened.message_id else None
        data: Json = {"custom_id": modal["custom_id"], "components": components}
        return await self._interact(
            MODAL_SUBMIT,
            user,
            self.channels[opened.channel_id],
            data,
            message,
            payloads.ALL_PERMISSIONS,
            MEMBER_PERMISSIONS,
            None,
        )

    async def _interact(
        self,
        kind: int,
        user: FakeUser,
        channel: FakeChannel,
        data: Json,
        message: FakeMessage | None,
        app_permissions: int,
        member_permissions: int,
        attachment_size_limit: int | None,
    ) -> FakeInteraction:
        interaction = FakeInteraction(
            self._next_id(),
            secrets.token_urlsafe(24),
            kind,
            channel.id,
            user.id,
            message_id=message.id if message is not None else None,
            guild_id=channel.guild_id,
        )
        self.interactions[interaction.id] = interaction
        guild_id = channel.guild_id
        assert guild_id is not None, "the bot's commands are guild-only"
        payload: Json = {
            "id": str(interaction.id),
            "application_id": str(self.application_id),
            "type": kind,
            "token": interaction.token,
            "version": 1,
            "guild_id": str(guild_id),
            "channel_id": str(channel.id),
            "channel": payloads.channel(channel),
            "member": payloads.member(user, member_permissions),
            "app_permissions": str(app_permissions),
            "locale": "en-US",
            "guild_locale": "en-US",
            "attachment_size_limit": attachment_size_limit or self.attachment_size_limit,
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(guild_id)},
            "context": 0,
            "data": data,
        }
        if message is not None:
            payload["message"] = payloads.message(message, self.users[message.author_id], guild_id)
        session = self._session_for(guild_id)
        interaction.shard = session.shard[0] if session.shard is not None else None
        await self._send(session, "INTERACTION_CREATE", payload)
        return interaction

    def _session_for(self, guild_id: int) -> _Session:
        """The newest ready session that holds the guild's shard (Discord sends a guild's
        events to its shard only)."""
        live = [s for s in self._sessions if s.ready and not s.ws.closed and s.holds(guild_id)]
        if not live:
            raise RuntimeError(f"no bot is connected to the fake gateway for guild {guild_id}")
        return live[-1]

    async def _send(self, session: _Session, event: str, data: Json) -> None:
        session.seq += 1
        await session.ws.send_str(json.dumps({"op": 0, "t": event, "s": session.seq, "d": data}))

    def sessions(self) -> list[tuple[int, int] | None]:
        """The ``shard`` of each connected, ready gateway session, oldest first."""
        return [s.shard for s in self._sessions if s.ready and not s.ws.closed]

    async def take_shard_down(self, shard: int) -> None:
        """Discord loses a shard: its sessions close (4000, resumable) and every IDENTIFY
        for it goes unanswered until :meth:`bring_shard_up`."""
        self._down_shards.add(shard)
        for session in list(self._sessions):
            if session.shard is not None and session.shard[0] == shard:
                await session.ws.close(code=4000, message=b"Unknown error.")

    async def bring_shard_up(self, shard: int) -> None:
        """Answer the IDENTIFYs that waited for ``shard`` (and any from now on)."""
        self._down_shards.discard(shard)
        for session in list(self._sessions):
            waiting = session.identified and not session.ready and not session.ws.closed
            if waiting and session.shard is not None and session.shard[0] == shard:
                await self._ready(session)

    async def revoke_token(self) -> None:
        """The bot's token is reset in the portal: live sessions are closed with 4004
        (authentication failed) and the old token is refused from now on."""
        self.token = f"revoked-{secrets.token_hex(8)}"
        for session in list(self._sessions):
            await session.ws.close(code=4004, message=b"Authentication failed.")

    async def wait_identified(self, count: int = 1) -> None:
        await self.until(lambda: len(self.identifies) >= count)

    # -- gateway -----------------------------------------------------------------------

    async def _gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.gateway_queries.append(dict(request.query))
        session = _Session(ws)
        self._sessions.append(session)
        try:
            await ws.send_str(
                json.dumps({"op": 10, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
            )
            async for msg in ws:
                if msg.type is not WSMsgType.TEXT:
                    continue  # the bot sends plain-text JSON; anything else is ignored
                frame = json.loads(msg.data)
                op = frame.get("op")
                if op == 1:
                    await ws.send_str(json.dumps({"op": 11}))
                elif op == 2:
                    await self._identify(session, frame["d"])
                elif op == 6:
                    await ws.send_str(json.dumps({"op": 9, "d": False}))
        finally:
            self._sessions.remove(session)
        return ws

    async def _identify(self, session: _Session, data: Json) -> None:
        if data.get("token") != self.token:
            await session.ws.close(code=4004, message=b"Authentication failed.")
            return
        shard = data.get("shard")
        if shard is not None:
            shard_id, count = int(shard[0]), int(shard[1])
            if not 0 <= shard_id < count:
                await session.ws.close(code=4010, message=b"Invalid shard.")
                return
            session.shard = (shard_id, count)
        self.identifies.append(data)
        session.identified = True
        if session.shard is None or session.shard[0] not in self._down_shards:
            await self._ready(session)
        await self._notify()

    async def _ready(self, session: _Session) -> None:
        """READY with the session's guilds, then one GUILD_CREATE each."""
        guilds = [g for g in self.guilds.values() if session.holds(g.id)]
        ready: Json = {
            "v": 10,
            "user": payloads.user(self.bot_user),
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": secrets.token_hex(16),
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.application_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
        }
        if session.shard is not None:
            ready["shard"] = list(session.shard)
        session.ready = True
        await self._send(session, "READY", ready)
        for guild in guilds:
            channels = [c for c in self.channels.values() if c.guild_id == guild.id]
            data = payloads.guild(guild.id, guild.name, channels, self.bot_user)
            await self._send(session, "GUILD_CREATE", data)
        await self._notify()

    # -- REST --------------------------------------------------------------------------

    def _build_routes(self) -> _Routes:
        r = _Routes()
        r.add("GET", r"/users/@me", self._get_me)
        r.add("GET", r"/users/(?P<user>\d+)", self._get_user)
        r.add("POST", r"/users/@me/channels", self._create_dm)
        r.add("GET", r"/oauth2/applications/@me", self._get_application)
        r.add("GET", r"/gateway(/bot)?", self._get_gateway)
        r.add("PUT", r"/applications/\d+/commands", self._sync_commands)
        r.add("PUT", r"/applications/\d+/guilds/(?P<guild>\d+)/commands", self._sync_commands)
        r.add("POST", r"/channels/(?P<channel>\d+)/messages", self._create_message)
        r.add("PATCH", r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)", self._edit_message)
        r.add(
            "DELETE", r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)", self._delete_message
        )
        r.add(
            "POST",
            r"/channels/(?P<channel>\d+)/messages/(?P<message>\d+)/threads",
            self._start_thread,
        )
        r.add("POST", r"/interactions/(?P<id>\d+)/(?P<token>[^/]+)/callback", self._callback)
        r.add("PATCH", r"/webhooks/\d+/(?P<token>[^/]+)/messages/@original", self._edit_original)
        r.add("GET", r"/webhooks/\d+/(?P<token>[^/]+)/messages/@original", self._get_original)
        r.add("POST", r"/webhooks/\d+/(?P<token>[^/]+)", self._followup)
        return r

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path = "/" + request.match_info["tail"]
        response = await self._answer(request, path)
        self.requests.append(
            RecordedRequest(request.method, path, response.status, time.monotonic())
        )
        await self._notify()
        return response

    async def _answer(self, request: web.Request, path: str) -> web.StreamResponse:
        for rule in self._rate_limits:
            matches = rule.method == request.method and re.fullmatch(rule.path_pattern, path)
            if rule.remaining > 0 and matches:
                rule.remaining -= 1
                return self._too_many(rule.retry_after)
        found = self._routes.find(request.method, path)
        if found is None:
            return _error(404, f"404: Not Found ({request.method} {path})", 0)
        handler, match = found
        webhook = path.startswith(("/interactions/", "/webhooks/"))
        if not webhook and request.headers.get(hdrs.AUTHORIZATION) != f"Bot {self.token}":
            return _error(401, "401: Unauthorized", 0)
        return await handler(request, match)

    @staticmethod
    def _too_many(retry_after: float) -> web.Response:
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": f"{retry_after:.3f}",
            "X-RateLimit-Bucket": "fake-bucket",
            "X-RateLimit-Scope": "user",
        }
        body = {
            "message": "You are being rate limited.",
            "retry_after": retry_after,
            "global": False,
        }
        return _json(body, status=429, headers=headers)

    async def _read_body(self, request: web.Request) -> tuple[Json, list[FakeAttachment]]:
        if request.content_type.startswith("multipart/"):
            payload: Json = {}
            files: list[FakeAttachment] = []
            reader = await request.multipart()
            while (part := await reader.next()) is not None:
                assert isinstance(part, BodyPartReader)
                if part.name == "payload_json":
                    payload = json.loads(await part.text())
                elif part.name and part.name.startswith("files["):
                    data = bytes(await part.read(decode=False))
                    filename = part.filename or "file"
                    # discord.py sends every file as application/octet-stream; Discord
                    # tells the type from the file name.
                    content_type = mimetypes.guess_type(filename)[0] or part.headers.get(
                        hdrs.CONTENT_TYPE
                    )
                    files.append(FakeAttachment(self._next_id(), filename, content_type, data))
            return payload, files
        if request.can_read_body:
            return await request.json(), []
        return {}, []

    def _message_json(self, message: FakeMessage) -> Json:
        channel = self.channels.get(message.channel_id)
        guild_id = channel.guild_id if channel is not None else None
        return payloads.message(message, self.users[message.author_id], guild_id)

    def _write_refused(self, channel_id: int) -> web.Response | None:
        if channel_id not in self.channels:
            return _error(404, "Unknown Channel", 10003)
        status = self.denied.get(channel_id)
        if status == 403:
            return _error(403, "Missing Permissions", 50013)
        if status == 404:
            return _error(404, "Unknown Channel", 10003)
        return None

    async def _get_me(self, request: web.Request, match: re.Match[str]) -> web.Response:
        return _json(payloads.user(self.bot_user))

    async def _get_user(self, request: web.Request, match: re.Match[str]) -> web.Response:
        user = self.users.get(int(match["user"]))
        if user is None:
            return _error(404, "Unknown User", 10013)
        return _json(payloads.user(user))

    async def _create_dm(self, request: web.Request, match: re.Match[str]) -> web.Response:
        body = await request.json()
        recipient = int(body["recipient_id"])
        for channel in self.channels.values():
            if channel.type == DM_CHANNEL and channel.recipient_id == recipient:
                break
        else:
            channel = FakeChannel(self._next_id(), DM_CHANNEL, "dm", None, recipient_id=recipient)
            self.channels[channel.id] = channel
        data = payloads.channel(channel)
        data["recipients"] = [payloads.user(self.users[recipient])]
        return _json(data)

    async def _get_application(self, request: web.Request, match: re.Match[str]) -> web.Response:
        owner = FakeUser(1, "owner")
        return _json(
            {
                "id": str(self.application_id),
                "name": "imagine",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": payloads.user(owner),
                "team": None,
                "verify_key": "0" * 64,
                "flags": 0,
                "summary": "",
                "interactions_endpoint_url": None,
            }
        )

    async def _get_gateway(self, request: web.Request, match: re.Match[str]) -> web.Response:
        limit = {
            "total": 1000,
            "remaining": 999,
            "reset_after": 0,
            "max_concurrency": self.max_concurrency,
        }
        return _json(
            {"url": self.gateway_url, "shards": self.shard_count, "session_start_limit": limit}
        )

    async def _sync_commands(self, request: web.Request, match: re.Match[str]) -> web.Response:
        body = await request.json()
        guild = match.groupdict().get("guild")
        scope = int(guild) if guild else None
        answer = []
        for command in body:
            item = {
                "id": str(self._next_id()),
                "application_id": str(self.application_id),
                "version": "1",
                "type": 1,
                "default_member_permissions": None,
                **command,
            }
            if scope is not None:
                item["guild_id"] = str(scope)
            answer.append(item)
        self.synced_commands[scope] = answer
        return _json(answer)

    async def _create_message(self, request: web.Request, match: re.Match[str]) -> web.Response:
        channel_id = int(match["channel"])
        refused = self._write_refused(channel_id)
        if refused is not None:
            return refused
        payload, files = await self._read_body(request)
        if any(len(f.data) > self.attachment_size_limit for f in files):
            return _error(413, "Request entity too large", 40005)
        if errors := message_component_errors(list(payload.get("components") or [])):
            return _json(invalid_form_body(errors), status=400)
        nonce = payload.get("nonce")
        author = self.bot_user.id
        now = time.monotonic()
        if nonce is not None and payload.get("enforce_nonce"):
            seen = self._nonces.get((author, str(nonce)))
            if seen is not None and now - seen[0] <= self.nonce_window:
                self.deduplicated.append(str(nonce))
                return _json(self._message_json(self.messages[seen[1]]))
        message = FakeMessage(
            self._next_id(),
            channel_id,
            author,
            str(payload.get("content") or ""),
            attachments=files,
            components=list(payload.get("components") or []),
            nonce=str(nonce) if nonce is not None else None,
            flags=int(payload.get("flags") or 0),
        )
        self.messages[message.id] = message
        if nonce is not None and payload.get("enforce_nonce"):
            self._nonces[(author, str(nonce))] = (now, message.id)
        return _json(self._message_json(message))

    def _live_message(self, match: re.Match[str]) -> FakeMessage | web.Response:
        channel_id = int(match["channel"])
        refused = self._write_refused(channel_id)
        if refused is not None:
            return refused
        message = self.messages.get(int(match["message"]))
        if message is None or message.deleted or message.channel_id != channel_id:
            return _error(404, "Unknown Message", 10008)
        return message

    async def _edit_message(self, request: web.Request, match: re.Match[str]) -> web.Response:
        found = self._live_message(match)
        if isinstance(found, web.Response):
            return found
        payload, _ = await self._read_body(request)
        if errors := message_component_errors(list(payload.get("components") or [])):
            return _json(invalid_form_body(errors), status=400)
        if "content" in payload:
            found.edits.append(found.content)
            found.content = str(payload["content"] or "")
        if "components" in payload:
            found.components = list(payload["components"] or [])
        return _json(self._message_json(found))

    async def _delete_message(self, request: web.Request, match: re.Match[str]) -> web.Response:
        found = self._live_message(match)
        if isinstance(found, web.Response):
            return found
        found.deleted = True
        return web.Response(status=204)

    async def _start_thread(self, request: web.Request, match: re.Match[str]) -> web.Response:
        found = self._live_message(match)
        if isinstance(found, web.Response):
            return found
        if found.id in self.channels:
            return _error(400, "A thread has already been created for this message", 160004)
        body = await request.json()
        parent = self.channels[found.channel_id]
        thread = FakeChannel(
            found.id,  # Discord: a thread started from a message has the message's id
            PUBLIC_THREAD,
            str(body["name"]),
            parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=int(body.get("auto_archive_duration") or 4320),
        )
        self.channels[thread.id] = thread
        return _json(payloads.channel(thread), status=201)

    def _interaction_by_token(self, token: str) -> FakeInteraction | None:
        return next((i for i in self.interactions.values() if i.token == token), None)

    async def _callback(self, request: web.Request, match: re.Match[str]) -> web.Response:
        interaction = self.interactions.get(int(match["id"]))
        if interaction is None or interaction.token != match["token"]:
            return _error(404, "Unknown interaction", 10062)
        if interaction.callbacks:
            return _error(400, "Interaction has already been acknowledged.", 40060)
        body, _ = await self._read_body(request)
        kind = int(body["type"])
        data = body.get("data") or {}
        refused = self._callback_refused(interaction, kind, data)
        if refused is not None:
            return refused
        interaction.callbacks.append(body)
        flags = int(data.get("flags") or 0)
        answer: Json = {
            "interaction": {
                "id": str(interaction.id),
                "type": interaction.type,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": bool(flags & EPHEMERAL),
            }
        }
        if kind in (4, 5):
            interaction.original_flags = flags
            if kind == 4:
                interaction.original = str(data.get("content") or "")
            message = FakeMessage(
                self._next_id(),
                interaction.channel_id,
                self.bot_user.id,
                interaction.original or "",
                flags=flags,
            )
            answer["resource"] = {"type": kind, "message": self._message_json(message)}
        elif kind == 7:
            answer["resource"] = {"type": kind}
        return _json(answer)

    @staticmethod
    def _callback_refused(
        interaction: FakeInteraction, kind: int, data: Json
    ) -> web.Response | None:
        """Discord's rules for the answer types the bot uses: a modal answers only a command
        or a button press; a silent update (6) or message update (7) only a button press or
        a modal submitted from one; every modal within the limits."""
        updates_message = interaction.type == COMPONENT or (
            interaction.type == MODAL_SUBMIT and interaction.message_id is not None
        )
        if kind == MODAL_RESPONSE:
            if interaction.type not in (APPLICATION_COMMAND, COMPONENT):
                return _bad_callback("This interaction can't be answered that way.")
            if errors := modal_errors(data):
                return _json(invalid_form_body(errors), status=400)
        elif kind in (6, 7) and not updates_message:
            return _bad_callback("This interaction can't be answered that way.")
        elif interaction.type == AUTOCOMPLETE and kind != 8:
            return _bad_callback("Autocomplete interactions take choices only.")
        return None

    async def _serve_file(self, request: web.Request) -> web.StreamResponse:
        self.file_requests.append(request.path)
        await self._notify()
        try:
            upload = self.uploads.get(int(request.match_info["id"]))
        except ValueError:
            upload = None
        if upload is None or upload.url is not None:
            return web.Response(status=404, text="Not Found")
        return web.Response(
            body=upload.data, content_type=upload.content_type or "application/octet-stream"
        )

    async def _edit_original(self, request: web.Request, match: re.Match[str]) -> web.Response:
        interaction = self._interaction_by_token(match["token"])
        if interaction is None or not interaction.callbacks:
            return _error(404, "Unknown Webhook", 10015)
        payload, _ = await self._read_body(request)
        if "content" in payload:
            interaction.original = str(payload["content"] or "")
        return await self._get_original(request, match)

    async def _get_original(self, request: web.Request, match: re.Match[str]) -> web.Response:
        interaction = self._interaction_by_token(match["token"])
        if interaction is None or not interaction.callbacks:
            return _error(404, "Unknown Webhook", 10015)
        message = FakeMessage(
            interaction.id,
            interaction.channel_id,
            self.bot_user.id,
            interaction.original or "",
            flags=interaction.original_flags,
        )
        return _json(self._message_json(message))

    async def _followup(self, request: web.Request, match: re.Match[str]) -> web.Response:
        interaction = self._interaction_by_token(match["token"])
        if interaction is None or not interaction.callbacks:
            return _error(404, "Unknown Webhook", 10015)
        payload, _ = await self._read_body(request)
        interaction.followups.append(payload)
        message = FakeMessage(
            self._next_id(),
            interaction.channel_id,
            self.bot_user.id,
            str(payload.get("content") or ""),
            flags=int(payload.get("flags") or 0),
        )
        return _json(self._message_json(message))
