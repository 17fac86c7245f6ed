"""The discord.py client: command tree, persistent buttons, command sync at login."""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord.buttons import ResultButton
from adapters.discord.commands import build_imagine_command, build_settings_command
from adapters.discord.handler import InteractionHandler


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
        """Runs inside ``login``: register the buttons, sync ``/imagine`` and
        ``/imagine-settings``."""
        self.add_dynamic_items(ResultButton)
        guild = discord.Object(id=self._guild_id) if self._guild_id is not None else None
        self.tree.add_command(build_imagine_command(), guild=guild)
        self.tree.add_command(build_settings_command(), guild=guild)
        self.synced_commands = await self.tree.sync(guild=guild)
