"""What the discord.py callbacks (slash commands, buttons, form submits) hand their
interaction to."""

from __future__ import annotations

from collections.abc import Mapping
from enum import StrEnum
from typing import Protocol, runtime_checkable

import discord

from bot.chat import ActionKind


class Command(StrEnum):
    """The slash commands, by their Discord names."""

    IMAGINE = "imagine"
    ANIMATE = "animate"
    SETTINGS = "imagine-settings"
    HISTORY = "imagine-history"
    SHOW = "imagine-show"


class InteractionHandler(Protocol):
    async def on_command(
        self,
        interaction: discord.Interaction[discord.Client],
        command: Command,
        *,
        options: Mapping[str, str | int] | None = None,
        text: str = "",
        image: discord.Attachment | None = None,
    ) -> None:
        """A slash command: typed ``options`` (``/imagine``, ``/animate``) or free ``text``
        (``/imagine-settings`` changes, ``/imagine-show`` job id), and an attached image."""
        ...

    async def on_action(
        self,
        interaction: discord.Interaction[discord.Client],
        kind: ActionKind,
        job_id: str,
        index: int | None,
    ) -> None: ...

    async def on_dialog(
        self,
        interaction: discord.Interaction[discord.Client],
        kind: ActionKind,
        job_id: str,
        text: str,
    ) -> None: ...

    def style_choices(self, current: str) -> list[str]: ...


@runtime_checkable
class HasHandler(Protocol):
    """A discord client that knows its :class:`InteractionHandler` (``interaction.client``)."""

    @property
    def imagine_handler(self) -> InteractionHandler: ...
