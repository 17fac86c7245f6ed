"""What the discord.py callbacks (slash commands, buttons) hand their interaction to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

import discord

from bot.chat import ActionKind


class InteractionHandler(Protocol):
    async def on_imagine(
        self, interaction: discord.Interaction[discord.Client], options: Mapping[str, str | int]
    ) -> None: ...

    async def on_settings(
        self, interaction: discord.Interaction[discord.Client], changes: str | None
    ) -> None: ...

    async def on_action(
        self,
        interaction: discord.Interaction[discord.Client],
        kind: ActionKind,
        job_id: str,
        index: int | None,
    ) -> None: ...

    def style_choices(self, current: str) -> list[str]: ...


@runtime_checkable
class HasHandler(Protocol):
    """A discord client that knows its :class:`InteractionHandler` (``interaction.client``)."""

    @property
    def imagine_handler(self) -> InteractionHandler: ...
