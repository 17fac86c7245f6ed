"""The discord.py client: command tree, persistent buttons and forms, command sync at login."""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from adapters.discord.buttons import ResultButton
from adapters.discord.commands import build_commands
from adapters.discord.dialogs import submitted_dialog
from adapters.discord.handler import InteractionHandler

_log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Only ``guilds`` (not privileged): slash commands and buttons need no message content."""
    return discord.Intents(guilds=True)


class ImagineClient(discord.Client):
    def __init__(
        self,
        handler: InteractionHandler,
        *,
        guild_id: int | None,
        guild_ready_timeout: float = 2.0,
    ) -> None:
        super().__init__(intents=intents(), guild_ready_timeout=guild_ready_timeout)
        self._handler = handler
        self._guild_id = guild_id
        self.tree: app_commands.CommandTree[ImagineClient] = app_commands.CommandTree(self)
        self.synced_commands: list[app_commands.AppCommand] = []

    @property
    def imagine_handler(self) -> InteractionHandler:
        return self._handler

    async def setup_hook(self) -> None:
        """Runs inside ``login``: register the buttons, sync the slash commands."""
        self.add_dynamic_items(ResultButton)
        guild = discord.Object(id=self._guild_id) if self._guild_id is not None else None
        for command in build_commands():
            self.tree.add_command(command, guild=guild)
        self.synced_commands = await self.tree.sync(guild=guild)
        _log.info(
            "Discord: synced %s %s",
            ", ".join(f"/{c.name}" for c in self.synced_commands),
            f"to server {self._guild_id}" if guild else "globally (may take up to an hour)",
        )

    async def on_ready(self) -> None:
        _log.info(
            "Discord: connected as %s (application %s) in %d server(s)",
            self.user,
            self.application_id,
            len(self.guilds),
        )

    async def on_interaction(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Form submits, by their custom_id (whichever process opened the form)."""
        submitted = submitted_dialog(interaction)
        if submitted is not None:
            await self._handler.on_dialog(
                interaction, submitted.kind, submitted.job_id, submitted.text
            )
