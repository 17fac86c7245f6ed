"""Persistent result buttons: the action and job id live in the ``custom_id``.

Registered with ``Client.add_dynamic_items`` at startup, so a click on a message
posted before a restart still reaches the bot."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import discord

from adapters.discord.handler import HasHandler
from bot.chat import Action, ActionKind

CUSTOM_ID_TEMPLATE = r"imagine:(?P<kind>reroll|delete):(?P<job_id>[A-Za-z0-9_-]{1,80})"


def custom_id(kind: ActionKind, job_id: str) -> str:
    return f"imagine:{kind.value}:{job_id}"


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID_TEMPLATE
):
    def __init__(self, kind: ActionKind, job_id: str, label: str) -> None:
        style = (
            discord.ButtonStyle.danger
            if kind is ActionKind.DELETE
            else discord.ButtonStyle.secondary
        )
        super().__init__(
            discord.ui.Button(label=label, style=style, custom_id=custom_id(kind, job_id))
        )
        self.kind = kind
        self.job_id = job_id

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[discord.Client],
        item: discord.ui.Item[Any],
        match: re.Match[str],
        /,
    ) -> ResultButton:
        kind = ActionKind(match["kind"])
        label = getattr(item, "label", None) or kind.value.title()
        return cls(kind, match["job_id"], label)

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        client = interaction.client
        if isinstance(client, HasHandler):
            await client.imagine_handler.on_action(interaction, self.kind, self.job_id)


def result_view(actions: Sequence[Action]) -> discord.ui.View | None:
    """The buttons under a result message (``None`` when there are none)."""
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    for action in actions:
        view.add_item(ResultButton(action.kind, action.job_id, action.label))
    return view
