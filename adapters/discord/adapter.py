"""Runs the Discord side: login, gateway connection, and interaction → core calls."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping

import discord

from adapters.discord.client import ImagineClient
from adapters.discord.endpoints import EndpointOverride
from adapters.discord.errors import TRANSPORT_ERRORS
from adapters.discord.port import DiscordChatPort
from adapters.discord.settings import DiscordSettings
from adapters.discord.translate import conversation_of, requester_of
from bot.chat import ActionInvocation, ActionKind, ImagineCore, Invocation

_log = logging.getLogger(__name__)

INTERNAL_ERROR = "Something went wrong on my side. Please try again in a moment."

CoreCall = Callable[[Invocation], Awaitable[object]]
"""``bot.imagine`` or ``bot.configure``."""


class DiscordAdapter:
    """``await start()`` logs in (syncing the slash commands), connects in a background task
    and registers the port with the core; ``await wait_ready()`` waits for READY."""

    def __init__(self, bot: ImagineCore, settings: DiscordSettings) -> None:
        self._bot = bot
        self._settings = settings
        self._endpoints = EndpointOverride(settings.api_base, settings.gateway_url)
        self._client = ImagineClient(
            self, guild_id=settings.guild_id, guild_ready_timeout=settings.guild_ready_timeout
        )
        self._port = DiscordChatPort(self._client)
        self._task: asyncio.Task[None] | None = None

    @property
    def port(self) -> DiscordChatPort:
        return self._port

    @property
    def client(self) -> ImagineClient:
        return self._client

    async def start(self) -> None:
        self._endpoints.acquire()
        try:
            self._bot.add_chat(self._port)
            await self._client.login(self._settings.token)
        except BaseException:
            await self._client.close()
            self._endpoints.release()
            raise
        self._task = asyncio.create_task(self._client.connect(reconnect=True), name="discord")

    async def wait_ready(self) -> None:
        """Wait for the gateway's READY; raises if the connection task ended first."""
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
        """Whether the gateway connection is up (discord.py reconnects it by itself)."""
        if self._task is None:
            return False, "not started"
        if self._task.done():
            return False, "the Discord connection ended"
        if self._client.is_ready() and not self._client.is_closed():
            return True, f"connected as {self._client.user}"
        return False, "connecting to Discord"

    async def wait_closed(self) -> None:
        """Returns when the gateway connection ended for good (raising what ended it):
        discord.py reconnects through network trouble, so this means a fatal error."""
        if self._task is None:
            raise RuntimeError("start() first")
        await asyncio.shield(self._task)

    async def aclose(self) -> None:
        try:
            await self._client.close()
            if self._task is not None:
                with contextlib.suppress(Exception):
                    await self._task
        finally:
            self._endpoints.release()

    # InteractionHandler ------------------------------------------------------

    async def on_imagine(
        self, interaction: discord.Interaction[discord.Client], options: Mapping[str, str | int]
    ) -> None:
        invocation = Invocation(
            conversation_of(interaction),
            requester_of(interaction),
            options=dict(options),
            context=interaction,
        )
        await self._run_command(interaction, invocation, self._bot.imagine)

    async def on_settings(
        self, interaction: discord.Interaction[discord.Client], changes: str | None
    ) -> None:
        invocation = Invocation(
            conversation_of(interaction),
            requester_of(interaction),
            text=changes or "",
            context=interaction,
        )
        await self._run_command(interaction, invocation, self._bot.configure)

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
        self._port.remember_limit(action.conversation, interaction.filesize_limit)
        try:
            await interaction.response.defer()
        except TRANSPORT_ERRORS as exc:
            _log.warning("could not defer button click: %s", type(exc).__name__)
        try:
            await self._bot.act(action)
        except Exception:
            _log.exception("button action failed")
            await self._tell(action)

    def style_choices(self, current: str) -> list[str]:
        needle = current.strip().lower()
        return [name for name in self._settings.styles if needle in name.lower()]

    async def _run_command(
        self,
        interaction: discord.Interaction[discord.Client],
        invocation: Invocation,
        call: CoreCall,
    ) -> None:
        """Defer (privately) first — Discord wants an answer within 3 s whatever the core
        does — then hand the command to the core; its answers edit the deferred response."""
        self._port.remember_limit(invocation.conversation, interaction.filesize_limit)
        await self._port.acknowledge(invocation)
        try:
            await call(invocation)
        except Exception:
            _log.exception("/%s failed", interaction.command.name if interaction.command else "?")
            await self._tell(invocation)

    async def _tell(self, invocation: Invocation | ActionInvocation) -> None:
        with contextlib.suppress(Exception):
            await self._port.notify_user(
                invocation.conversation, invocation.requester.user_id, INTERNAL_ERROR, invocation
            )
