"""Persistent result buttons: the action, job id and image index live in the ``custom_id``.

Registered with ``Client.add_dynamic_items`` at startup, so a click on a message
posted before a restart still reaches the bot. Discord's limits (checked by the fake
Discord in the tests): at most 5 action rows of 5 buttons, a ``custom_id`` of at most
100 characters, a label of at most 80."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from typing import Any, Final

import discord

from adapters.discord.handler import HasHandler
from bot.chat import Action, ActionKind

_log = logging.getLogger(__name__)

KINDS: Final = "|".join(kind.value for kind in ActionKind)
JOB_ID: Final = r"[A-Za-z0-9_-]{1,64}"
CUSTOM_ID_TEMPLATE: Final = (
    rf"imagine:(?P<kind>{KINDS}):(?P<job_id>{JOB_ID})(?::(?P<index>[0-9]{{1,2}}))?"
)
MAX_ROWS: Final = 5
MAX_PER_ROW: Final = 5
MAX_CUSTOM_ID: Final = 100
MAX_LABEL: Final = 80


def custom_id(kind: ActionKind, job_id: str, index: int | None = None) -> str:
    """``imagine:<kind>:<job>[:<index>]``: at most 87 characters (job ids are capped at 64).
    ``ValueError`` for an id the buttons could not be matched by after a restart."""
    suffix = f":{index}" if index is not None else ""
    value = f"imagine:{kind.value}:{job_id}{suffix}"
    if len(value) > MAX_CUSTOM_ID or re.fullmatch(CUSTOM_ID_TEMPLATE, value) is None:
        raise ValueError(f"no button custom_id for job {job_id[:80]!r} / index {index}")
    return value


def clip_label(label: str) -> str:
    return label if len(label) <= MAX_LABEL else label[: MAX_LABEL - 1] + "…"


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
                label=clip_label(label),
                style=style,
                custom_id=custom_id(kind, job_id, index),
                row=row,
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
            (
                r
                for r in range(min(max(action.row, 0), MAX_ROWS - 1), MAX_ROWS)
                if used[r] < MAX_PER_ROW
            ),
            None,
        )
        if row is None:
            _log.warning("no room for the %s button of job %s", action.kind, action.job_id)
            continue
        used[row] += 1
        view.add_item(ResultButton(action.kind, action.job_id, action.label, action.index, row))
    return view
