"""The Slack side of the bot: a Bolt ``AsyncApp`` in Socket Mode or HTTP mode.

Listeners only translate: the slash commands (:data:`COMMANDS`) and ``app_mention``
(with its files as attachments) become an :class:`~bot.chat.Invocation` for the core, a
button press an :class:`~bot.chat.ActionInvocation` for ``bot.act``, a submitted Remix
modal a :class:`~bot.chat.DialogSubmission`, and the message shortcut *Imagine from this
image* a modal whose submission is an ``/imagine`` with the image attached. Everything
else is the core's.

Every listener acknowledges before anything else (Slack allows 3 s), and the core runs
in the background: its private answers to a slash command or shortcut then go through
the request's ``response_url`` (see ``SlackChatPort.notify_user``). Before the core sees a
requester, :class:`~adapters.slack.directory.SlackDirectory` fills in their user groups
and admin flag; ``subteam_*`` events tell it when group membership changed.

A press that opens a modal (Remix) carries a ``trigger_id`` Slack honours for 3 s only;
its user lookup gets at most ``dialog_lookup_budget`` seconds, after which the core goes
ahead without it (opening a form grants nothing; the submission is looked up in full)
while the lookup finishes in the background and fills the cache."""

from __future__ import annotations

import asyncio
import errno
import logging
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncRespond
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat import (
    ActionInvocation,
    DeliveryError,
    DialogSubmission,
    ImagineCore,
    Invocation,
)
from bot.clock import Clock, SystemClock

from .dedupe import RecentEvents
from .directory import DEFAULT_TTL, SlackDirectory
from .errors import TriggerExpired, api_error_code
from .files import SlackFiles
from .ids import ACTION_ID_PATTERN
from .port import RESPOND_ERRORS, BotIdentity, SlackChatPort
from .settings import SlackSettings
from .tasks import TaskSet
from .translate import (
    MentionContext,
    RespondContext,
    action_invocation,
    mention_invocation,
    slash_invocation,
)
from .views import (
    DIALOG_VIEW_PATTERN,
    IMAGE_SHORTCUT,
    IMAGE_VIEW,
    MetadataTooLong,
    dialog_submission,
    image_prompt_submission,
    image_prompt_view,
    image_shortcut,
)

log = logging.getLogger(__name__)

COMMAND = "/imagine"
SETTINGS_COMMAND = "/imagine-settings"
HISTORY_COMMAND = "/imagine-history"
SHOW_COMMAND = "/imagine-show"
ANIMATE_COMMAND = "/animate"
COMMANDS = (COMMAND, SETTINGS_COMMAND, HISTORY_COMMAND, SHOW_COMMAND, ANIMATE_COMMAND)
"""Every slash command the app declares (both manifests list exactly these)."""
EVENTS_PATH = "/slack/events"
SORRY = "Sorry — something went wrong on my side. Please try again."
NO_IMAGE = (
    "That message has no image I can use. Pick a message with a PNG, JPEG or WebP "
    "image and try “Imagine from this image” again."
)
FORM_CLOSED = "Slack didn't let me open the form in time. Please try the shortcut again."
"""Presses the core answers with a dialog, so their trigger_id must reach views.open in 3 s."""
DIALOG_LOOKUP_BUDGET = 1.0
"""Seconds a dialog press waits for the user lookup (of Slack's 3 s for the trigger)."""
GROUP_EVENTS = ("subteam_created", "subteam_updated", "subteam_members_changed")
"""Events after which the cached user-group membership is out of date."""
BOLT_APP_LOGGER = "slack_bolt.AsyncApp"


CoreCall = Callable[[Invocation], Awaitable[object]]
"""``bot.imagine``, ``bot.configure``, ``bot.history``, ``bot.show`` or ``bot.animate``."""
Answerable = Invocation | ActionInvocation | DialogSubmission


class SlackStartupError(RuntimeError):
    """Slack cannot be served (a refused token, a busy port); the one-line message names
    the setting to fix, never a secret."""


class SlackAdapter:
    def __init__(
        self,
        bot: ImagineCore,
        settings: SlackSettings,
        *,
        host: str = "0.0.0.0",  # noqa: S104 - Slack must reach the HTTP endpoint
        clock: Clock | None = None,
        shutdown_grace: float = 5.0,
        connect_timeout: float = 30.0,
        directory_ttl: float = DEFAULT_TTL,
        dialog_lookup_budget: float = DIALOG_LOOKUP_BUDGET,
    ) -> None:
        self._bot = bot
        self._settings = settings
        self._host = host
        self._clock = clock or SystemClock()
        self._recent = RecentEvents(self._clock)
        self._directory_ttl = directory_ttl
        self._dialog_lookup_budget = dialog_lookup_budget
        self._directory: SlackDirectory | None = None
        self._session: aiohttp.ClientSession | None = None
        self._shutdown_grace = shutdown_grace
        self._connect_timeout = connect_timeout
        self._tasks = TaskSet()
        self._closed = asyncio.Event()
        self._port: SlackChatPort | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self._runner: web.AppRunner | None = None
        self._http_port: int | None = None

    @property
    def port(self) -> SlackChatPort:
        """The ChatPort registered with the core (after :meth:`start`)."""
        if self._port is None:
            raise RuntimeError("SlackAdapter.start() has not run")
        return self._port

    @property
    def http_port(self) -> int | None:
        """The bound HTTP port in HTTP mode (useful with ``http_port=0``), else None."""
        return self._http_port

    async def start(self) -> None:
        client = AsyncWebClient(
            token=self._settings.bot_token,
            base_url=self._settings.api_base,
            retry_handlers=[
                AsyncRateLimitErrorRetryHandler(max_retry_count=3),
                AsyncConnectionErrorRetryHandler(max_retry_count=2),
            ],
        )
        identity, scopes = await _identify(client)
        self._directory = SlackDirectory(client, self._clock, ttl=self._directory_ttl)
        if scopes is not None:
            self._directory.check_scopes(scopes)
        self._session = aiohttp.ClientSession()  # for downloading files people attach
        files = SlackFiles(self._session, self._settings.bot_token, self._settings.api_base)
        self._port = SlackChatPort(client, identity, files, self._clock)
        self._bot.add_chat(self._port)
        try:
            app = self._app(client)
            if self._settings.socket_mode:
                await self._start_socket_mode(app, client)
            else:
                await self._start_http(app)
        except BaseException:
            await self._session.close()
            self._session = None
            raise

    def _app(self, client: AsyncWebClient) -> AsyncApp:
        """The Bolt app with every listener (Bolt injects their arguments by name)."""
        with _without_token_warning():
            app = AsyncApp(
                name="imagine-bot",
                client=client,
                signing_secret=self._settings.signing_secret or "",
                request_verification_enabled=not self._settings.socket_mode,
            )
        calls: dict[str, CoreCall] = {
            COMMAND: self._bot.imagine,
            SETTINGS_COMMAND: self._bot.configure,
            HISTORY_COMMAND: self._bot.history,
            SHOW_COMMAND: self._bot.show,
            ANIMATE_COMMAND: self._bot.animate,
        }
        for command in COMMANDS:
            app.command(command)(self._slash_listener(command, calls[command]))
        app.event("app_mention")(self._on_mention)
        for event in GROUP_EVENTS:
            app.event(event)(self._on_group_change)
        app.action(ACTION_ID_PATTERN)(self._on_action)
        app.view(DIALOG_VIEW_PATTERN)(self._on_dialog_submitted)
        app.shortcut(IMAGE_SHORTCUT)(self._on_image_shortcut)
        app.view(IMAGE_VIEW)(self._on_image_prompt_submitted)
        return app

    @property
    def platform(self) -> str:
        return "slack"

    async def health(self) -> tuple[bool, str]:
        """Whether Slack can reach us now (Socket Mode connected, or HTTP listening)."""
        if self._socket is not None:
            connected = await self._socket.client.is_connected()
            return bool(connected), (
                "Socket Mode connected" if connected else "Socket Mode reconnecting"
            )
        if self._runner is not None:
            return True, f"listening for events on port {self._http_port}"
        return False, "not started"

    async def wait_closed(self) -> None:
        """Slack's connections reconnect by themselves: this returns only after aclose."""
        await self._closed.wait()

    async def aclose(self) -> None:
        """Stop receiving, then let in-flight handlers finish (bounded)."""
        self._closed.set()
        if self._socket is not None:
            await self._socket.close_async()  # type: ignore[no-untyped-call]
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self._tasks.aclose(self._shutdown_grace)
        if self._session is not None:
            await self._session.close()
            self._session = None

    # -- transports --------------------------------------------------------------------

    async def _start_socket_mode(self, app: AsyncApp, client: AsyncWebClient) -> None:
        app_token = self._settings.app_token
        assert app_token is not None
        try:
            opened = await client.apps_connections_open(app_token=app_token)
        except SlackApiError as exc:
            raise SlackStartupError(
                f"Slack refused SLACK_APP_TOKEN ({api_error_code(exc)}); it must be an app-level "
                "token (xapp-…) with the connections:write scope."
            ) from None
        handler = AsyncSocketModeHandler(app, app_token=app_token, web_client=client)
        handler.client.wss_uri = str(opened["url"])  # use the URL we just opened
        self._socket = handler
        try:
            async with asyncio.timeout(self._connect_timeout):
                await handler.connect_async()  # type: ignore[no-untyped-call]
        except TimeoutError:
            self._socket = None
            await handler.close_async()  # type: ignore[no-untyped-call]
            raise SlackStartupError(
                "Could not open Slack's Socket Mode WebSocket "
                f"within {self._connect_timeout:.0f} s."
            ) from None
        log.info("Slack: connected in Socket Mode as %s", self._who())

    async def _start_http(self, app: AsyncApp) -> None:
        async def events(request: web.Request) -> web.Response:
            response = await app.async_dispatch(await to_bolt_request(request))
            return await to_aiohttp_response(response)

        web_app = web.Application()
        web_app.router.add_post(EVENTS_PATH, events)
        runner = web.AppRunner(web_app, access_log=None)
        await runner.setup()
        port = self._settings.http_port
        try:
            await web.TCPSite(runner, self._host, port).start()
        except OSError as exc:
            await runner.cleanup()
            reason = (
                "it is already in use"
                if exc.errno == errno.EADDRINUSE
                else exc.strerror or type(exc).__name__
            )
            raise SlackStartupError(
                f"Cannot listen for Slack on SLACK_HTTP_PORT {port} ({reason}); "
                "free it or set SLACK_HTTP_PORT to another port."
            ) from None
        self._runner = runner
        self._http_port = int(runner.addresses[0][1])
        log.info(
            "Slack: listening for events on port %d at %s as %s",
            self._http_port,
            EVENTS_PATH,
            self._who(),
        )

    def _who(self) -> str:
        identity = self.port.identity
        return f"@{identity.name} ({identity.user_id}) in workspace {identity.team_id}"

    # -- listeners (Bolt injects arguments by name) ------------------------------------

    def _slash_listener(
        self, command: str, call: CoreCall
    ) -> Callable[[AsyncAck, AsyncRespond, dict[str, Any]], Awaitable[None]]:
        async def on_command(ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]) -> None:
            await self._slash(command, call, ack, respond, body)

        return on_command

    async def _on_mention(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        event_id = str(body.get("event_id") or "")
        if event_id and not self._recent.first_time(event_id):
            log.info("Slack: event %s delivered again (a retry); ignored", event_id)
            return
        if event.get("bot_id") or not event.get("user"):
            return
        team_id = str(body.get("team_id") or event.get("team") or "")
        invocation = mention_invocation(event, team_id, self.port.identity.user_id)
        self._tasks.spawn(
            self._call_core("a mention", self._bot.imagine, invocation), name="slack-mention"
        )

    async def _on_group_change(self, body: dict[str, Any]) -> None:
        event = body.get("event") or {}
        log.debug("Slack: %s; user groups will be read again", event.get("type"))
        self._identities.groups_changed()

    async def _on_action(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        action = action_invocation(body, self._clock.monotonic())
        if action is not None:
            self._tasks.spawn(self._act(action), name="slack-action")

    async def _on_dialog_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        """Close the modal at once (an empty ack); the core answers in the thread, or
        privately (a parse error, a refusal)."""
        await ack()
        submission = dialog_submission(body)
        if submission is None:
            log.warning("Slack: a submitted form without our metadata; ignored")
            return
        self._tasks.spawn(self._submit(submission), name="slack-dialog")

    async def _on_image_shortcut(
        self, ack: AsyncAck, respond: AsyncRespond, body: dict[str, Any]
    ) -> None:
        """*Imagine from this image*: open the prompt modal right away (before any
        lookup: the trigger_id lives 3 s); a message without an image gets a private
        note instead."""
        await ack()
        shortcut = image_shortcut(body)
        if shortcut is None:
            await self._respond_quietly(respond, NO_IMAGE)
            return
        try:
            await self.port.open_view(shortcut.trigger_id, image_prompt_view(shortcut))
        except TriggerExpired as exc:
            log.info("Slack: the image-prompt form opened too late: %s", exc)
            await self._respond_quietly(respond, FORM_CLOSED)
        except (DeliveryError, MetadataTooLong) as exc:
            log.warning("Slack: the image-prompt form did not open: %s", exc)
            await self._respond_quietly(respond, SORRY)

    async def _on_image_prompt_submitted(self, ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        submitted = image_prompt_submission(body)
        if submitted is None:
            log.warning("Slack: a submitted image prompt without our metadata; ignored")
            return
        invocation, response_url = submitted
        if response_url is not None:
            respond = AsyncRespond(response_url=response_url)
            invocation = replace(invocation, context=RespondContext(respond))
        self._tasks.spawn(
            self._call_core("an image prompt", self._bot.imagine, invocation),
            name="slack-image-prompt",
        )

    # -- calling the core --------------------------------------------------------------

    @property
    def _identities(self) -> SlackDirectory:
        if self._directory is None:
            raise RuntimeError("SlackAdapter.start() has not run")
        return self._directory

    async def _slash(
        self,
        command: str,
        call: CoreCall,
        ack: AsyncAck,
        respond: AsyncRespond,
        body: dict[str, Any],
    ) -> None:
        """Acknowledge at once (an empty ack: the user sees the answer, not a "working on
        it"), then hand the command to the core in the background. The core's private
        answers go through ``respond``, however long its database work takes."""
        await ack()
        invocation = slash_invocation(body, RespondContext(respond))
        self._tasks.spawn(self._call_core(command, call, invocation), name=f"slack-{command}")

    async def _call_core(self, what: str, call: CoreCall, invocation: Invocation) -> None:
        async def run() -> None:
            await call(await self._identities.identify(invocation))

        await self._guarded(what, invocation, run())

    async def _act(self, action: ActionInvocation) -> None:
        async def run() -> None:
            if action.kind.opens_dialog:
                identified = await self._identify_within(action, self._dialog_lookup_budget)
            else:
                identified = await self._identities.identify(action)
            await self._bot.act(identified)

        await self._guarded(f"the {action.kind} button of job {action.job_id}", action, run())

    async def _submit(self, submission: DialogSubmission) -> None:
        async def run() -> None:
            await self._bot.submit_dialog(await self._identities.identify(submission))

        what = f"the {submission.kind} form of job {submission.job_id}"
        await self._guarded(what, submission, run())

    async def _guarded(self, what: str, answer_to: Answerable, work: Awaitable[None]) -> None:
        """Run ``work``; a failure is logged and the person gets an apology, privately."""
        try:
            await work
        except Exception:
            log.exception("Slack: %s failed inside the core", what)
            await self._tell_sorry(answer_to)

    async def _identify_within(self, action: ActionInvocation, budget: float) -> ActionInvocation:
        """The press with its requester looked up, if that takes at most ``budget``
        seconds; else the press as it came (the lookup goes on and fills the cache)."""
        lookup = self._tasks.spawn(self._identities.identify(action), name="slack-lookup")
        done, _ = await asyncio.wait({lookup}, timeout=budget)
        if done:
            return lookup.result()
        log.info(
            "Slack: the user lookup for %s's %s press is slow; opening the form without it",
            action.requester.user_id,
            action.kind,
        )
        return action

    async def _respond_quietly(self, respond: AsyncRespond, text: str) -> None:
        try:
            await respond(text=text, response_type="ephemeral", replace_original=False)
        except RESPOND_ERRORS as exc:
            log.warning("Slack: could not answer a shortcut privately: %s", type(exc).__name__)

    async def _tell_sorry(self, invocation: Answerable) -> None:
        try:
            await self.port.notify_user(
                invocation.conversation, invocation.requester.user_id, SORRY, invocation
            )
        except Exception:
            log.exception("Slack: could not even apologise")


async def _identify(client: AsyncWebClient) -> tuple[BotIdentity, frozenset[str] | None]:
    """Who the bot is, and the token's scopes when Slack lists them (``X-OAuth-Scopes``)."""
    try:
        result = await client.auth_test()
    except SlackApiError as exc:
        raise SlackStartupError(
            f"Slack refused SLACK_BOT_TOKEN ({api_error_code(exc)}); use the app's Bot User "
            "OAuth Token (xoxb-…)."
        ) from None
    identity = BotIdentity(
        user_id=str(result.get("user_id") or ""),
        bot_id=str(result.get("bot_id") or ""),
        name=str(result.get("user") or "imagine"),
        team_id=str(result.get("team_id") or ""),
    )
    listed = (result.headers or {}).get("x-oauth-scopes")
    scopes = None
    if isinstance(listed, str):
        scopes = frozenset(s.strip() for s in listed.split(",") if s.strip())
    return identity, scopes


class _DropMessage(logging.Filter):
    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


@contextmanager
def _without_token_warning() -> Iterator[None]:
    """Bolt reads ``SLACK_BOT_TOKEN`` from the environment even when given a client, and
    then warns "As you gave `client` as well, `token` will be unused." — true and
    harmless (our client carries that very token), but alarming in an operator's log.
    The warning is logged synchronously inside ``AsyncApp()``: drop exactly that
    message, only for the duration of the constructor."""
    bolt_log = logging.getLogger(BOLT_APP_LOGGER)
    drop = _DropMessage(warning_client_prioritized_and_token_skipped())
    bolt_log.addFilter(drop)
    try:
        yield
    finally:
        bolt_log.removeFilter(drop)


__all__ = ["MentionContext", "SlackAdapter", "SlackStartupError"]
