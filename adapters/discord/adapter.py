"""Runs the Discord side: login, gateway connection, and interaction → core calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import discord

from adapters.discord.client import ImagineClient
from adapters.discord.endpoints import EndpointOverride
from adapters.discord.files import FileHosts
from adapters.discord.handler import Command
from adapters.discord.port import DiscordChatPort
from adapters.discord.settings import DiscordSettings, shard_list
from adapters.discord.translate import attachment_of, conversation_of, requester_of
from bot.chat import (
    ActionInvocation,
    ActionKind,
    DialogSubmission,
    ImagineCore,
    Invocation,
)

_log = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on my side. Please try again in a moment."

CoreCall = Callable[[Invocation], Awaitable[object]]
"""``bot.imagine``, ``bot.configure``, ..."""

SHOWN = "Posted it in this channel, with working buttons."
DONE = "Done."


class DiscordAdapter:
    """``await start()`` logs in (syncing the slash commands where this process runs
    shard 0), connects its shards in a background task and registers the port with the
    core; ``await wait_ready()`` waits for READY on each of them. The port posts through
    REST only, so any replica delivers into any guild, whichever replica runs its shard."""

    def __init__(self, bot: ImagineCore, settings: DiscordSettings) -> None:
        self._bot = bot
        self._settings = settings
        self._endpoints = EndpointOverride(settings.api_base, settings.gateway_url)
        self._client = ImagineClient(
            self,
            guild_id=settings.guild_id,
            guild_ready_timeout=settings.guild_ready_timeout,
            shard_count=settings.shard_count,
            shard_ids=settings.shard_ids,
            identify_interval=settings.identify_interval,
        )
        self._port = DiscordChatPort(self._client, FileHosts.for_api_base(settings.api_base))
        self._task: asyncio.Task[None] | None = None
        self._logging_in = False

    @property
    def port(self) -> DiscordChatPort:
        return self._port

    @property
    def client(self) -> ImagineClient:
        return self._client

    async def start(self) -> None:
        """Log in (which plans the shards and syncs the commands, see ``client.py``), then
        connect every shard this process runs in a background task."""
        self._endpoints.acquire()
        try:
            self._bot.add_chat(self._port)
            self._logging_in = True
            await self._client.login(self._settings.token)
        except BaseException:
            await self._close_client()
            self._endpoints.release()
            raise
        self._task = asyncio.create_task(self._client.connect(reconnect=True), name="discord")

    async def wait_ready(self) -> None:
        """Wait for READY on every shard this process runs (and their guilds); raises if
        the connection task ended first."""
        if self._task is None:
            raise RuntimeError("start() first")
        ready = asyncio.create_task(self._client.wait_until_ready())
        try:
            done, _ = await asyncio.wait(
                {ready, self._task},
                timeout=self._settings.ready_timeout,
                return_when=asyncio.FIRST_COMPLETED,
            )
        finally:
            ready.cancel()
        if self._task in done:
            self._task.result()
            raise RuntimeError("the Discord connection ended before READY")
        if ready not in done:
            raise TimeoutError("Discord did not send READY in time")

    @property
    def platform(self) -> str:
        return "discord"

    async def health(self) -> tuple[bool, str]:
        """Ready when every shard this process runs is connected (discord.py reconnects a
        dropped one by itself); the detail names the shards that are not."""
        client = self._client
        if self._task is None:
            return False, "not started"
        if self._task.done() or client.is_closed():
            return False, "the Discord connection ended"
        shards, missing, ready = client.describe_shards(), client.missing_shards, client.is_ready()
        if missing and shards:
            return False, (
                f"shard{'s' if len(missing) > 1 else ''} {shard_list(missing)} of "
                f"{client.shard_count} not connected{' (reconnecting)' if ready else ' yet'}"
            )
        if missing and ready:
            return False, "disconnected from Discord (reconnecting)"
        on = f" ({shards})" if shards else ""
        if not ready:
            return False, f"connecting to Discord{on}"
        return True, f"connected as {client.user}{on}"

    async def wait_closed(self) -> None:
        """Returns when the gateway connection ended for good (raising what ended it):
        discord.py reconnects each shard through network trouble, so this means a fatal
        error (on any shard: it closes them all) or :meth:`aclose`."""
        if self._task is None:
            raise RuntimeError("start() first")
        await asyncio.shield(self._task)

    async def aclose(self) -> None:
        try:
            await self._close_client()
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await self._task
        finally:
            self._endpoints.release()

    async def _close_client(self) -> None:
        # AutoShardedClient.close() needs what login() sets up first.
        if self._logging_in:
            await self._client.close()

    # InteractionHandler ------------------------------------------------------

    async def on_command(
        self,
        interaction: discord.Interaction[discord.Client],
        command: Command,
        *,
        options: Mapping[str, str | int] | None = None,
        text: str = "",
        image: discord.Attachment | None = None,
    ) -> None:
        """Defer (privately) first — Discord wants an answer within 3 s whatever the core
        does — then hand the command to the core; its answers edit the deferred response."""
        invocation = Invocation(
            conversation_of(interaction),
            requester_of(interaction),
            text=text,
            options=dict(options or {}),
            context=interaction,
            attachments=(attachment_of(image),) if image is not None else (),
        )
        calls: dict[Command, CoreCall] = {
            Command.IMAGINE: self._bot.imagine,
            Command.ANIMATE: self._bot.animate,
            Command.SETTINGS: self._bot.configure,
            Command.HISTORY: self._bot.history,
            Command.SHOW: self._bot.show,
        }
        self._port.remember_limit(invocation.conversation, interaction.filesize_limit)
        await self._port.acknowledge(invocation)
        try:
            await calls[command](invocation)
        except Exception:
            _log.exception("/%s failed", command)
            await self._tell(invocation)
            return
        await self._port.settle(invocation, SHOWN if command is Command.SHOW else DONE)

    async def on_action(
        self,
        interaction: discord.Interaction[discord.Client],
        kind: ActionKind,
        job_id: str,
        index: int | None,
    ) -> None:
        message = interaction.message
        if message is None:
            return
        action = ActionInvocation(
            conversation_of(interaction),
            requester_of(interaction),
            kind,
            job_id,
            str(message.id),
            index=index,
            context=interaction,
        )
        # Remix answers the press with its form, which must be the first answer.
        form = kind.opens_dialog
        await self._answer(interaction, action, self._bot.act(action), form=form)

    async def on_dialog(
        self,
        interaction: discord.Interaction[discord.Client],
        kind: ActionKind,
        job_id: str,
        text: str,
    ) -> None:
        submission = DialogSubmission(
            conversation_of(interaction),
            requester_of(interaction),
            kind,
            job_id,
            text,
            context=interaction,
        )
        await self._answer(interaction, submission, self._bot.submit_dialog(submission))

    def style_choices(self, current: str) -> list[str]:
        needle = current.strip().lower()
        return [name for name in self._settings.styles if needle in name.lower()]

    async def _answer(
        self,
        interaction: discord.Interaction[discord.Client],
        answerable: ActionInvocation | DialogSubmission,
        work: Awaitable[None],
        *,
        form: bool = False,
    ) -> None:
        """Run a press or submit through the core, answering Discord within its 3 s: at once
        (a silent defer), or — when the core may answer with a form — only if the core has
        not answered within ``answer_deadline`` (the form then can't open, and the core
        offers the command to type instead)."""
        self._port.remember_limit(answerable.conversation, interaction.filesize_limit)
        if not form:
            await self._port.defer_update(interaction)
        task = asyncio.ensure_future(work)
        try:
            if form:
                done, _ = await asyncio.wait({task}, timeout=self._settings.answer_deadline)
                if not done:
                    await self._port.defer_update(interaction)
            await task
        except Exception:
            _log.exception("%s failed", type(answerable).__name__)
            await self._tell(answerable)
        finally:
            task.cancel()  # no-op once done; stops the core's work if this handler is cancelled

    async def _tell(self, answerable: Invocation | ActionInvocation | DialogSubmission) -> None:
        with contextlib.suppress(Exception):
            await self._port.notify_user(
                answerable.conversation, answerable.requester.user_id, INTERNAL_ERROR, answerable
            )
