"""Persistent result buttons: the action and job id live in the ``custom_id``.

Registered with ``Client.add_dynamic_items`` at startup, so a click on a message
posted before a restart still reaches the bot."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any

import discord

from adapters.discord.handler import HasHandler
from bot.chat import Action, ActionKind

_log = logging.getLogger(__name__)

KINDS = "|".join(kind.value for kind in ActionKind)
CUSTOM_ID_TEMPLATE = (
    rf"imagine:(?P<kind>{KINDS}):(?P<job_id>[A-Za-z0-9_-]{{1,64}})(?::(?P<index>[0-9]{{1,2}}))?"
)
MAX_ROWS = 5
MAX_PER_ROW = 5


def custom_id(kind: ActionKind, job_id: str, index: int | None = None) -> str:
    """At most 100 characters (Discord's limit): the job id is capped at 64."""
    suffix = f":{index}" if index is not None else ""
    return f"imagine:{kind.value}:{job_id}{suffix}"


_STYLES = {
    ActionKind.DELETE: discord.ButtonStyle.danger,
    ActionKind.CANCEL: discord.ButtonStyle.danger,
    ActionKind.UPSCALE: discord.ButtonStyle.primary,
}


class ResultButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]], template=CUSTOM_ID_TEMPLATE
):
    def __init__(
        self, kind: ActionKind, job_id: str, label: str, index: int | None = None, row: int = 0
    ) -> None:
        style = _STYLES.get(kind, discord.ButtonStyle.secondary)
        super().__init__(
            discord.ui.Button(
                label=label, style=style, custom_id=custom_id(kind, job_id, index), row=row
            )
        )
        self.kind = kind
        self.job_id = job_id
        self.index = index

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
        index = int(match["index"]) if match["index"] is not None else None
        return cls(kind, match["job_id"], label, index)

    async def callback(self, interaction: discord.Interaction[discord.Client]) -> None:
        client = interaction.client
        if isinstance(client, HasHandler):
            await client.imagine_handler.on_action(interaction, self.kind, self.job_id, self.index)


def result_view(actions: Sequence[Action]) -> discord.ui.View | None:
    """The buttons of a message by row (``None`` when there are none). Discord allows
    5 rows of 5 buttons: a row that is full moves its extra buttons down, and what does not
    fit at all is left out (and logged) rather than failing the post."""
    if not actions:
        return None
    view = discord.ui.View(timeout=None)
    used = [0] * MAX_ROWS
    for action in actions:
        row = next(
            (r for r in range(min(action.row, MAX_ROWS - 1), MAX_ROWS) if used[r] < MAX_PER_ROW),
            None,
        )
        if row is None:
            _log.warning("no room for the %s button of job %s", action.kind, action.job_id)
            continue
        used[row] += 1
        view.add_item(ResultButton(action.kind, action.job_id, action.label, action.index, row))
    return view
