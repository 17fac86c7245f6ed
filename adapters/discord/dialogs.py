"""The core's ``Dialog`` (the Remix form) as a Discord modal that survives restarts.

A modal is an answer to a button press, and its submit comes back as a ``modal_submit``
interaction carrying the modal's ``custom_id``: ``imagine-dialog:<kind>:<job>``, like the
buttons' ids. The modal is sent *stopped*, so discord.py keeps no in-memory copy to
dispatch to: every submit — whether this process opened the form or one before a
restart did — takes the same way, ``ImagineClient.on_interaction`` →
:func:`submitted_dialog` → the handler's ``on_dialog``."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Final

import discord

from adapters.discord.buttons import JOB_ID, KINDS
from bot.chat import ActionKind, Dialog

DIALOG_TEMPLATE: Final = re.compile(rf"imagine-dialog:(?P<kind>{KINDS}):(?P<job_id>{JOB_ID})")
TEXT_FIELD: Final = "text"
MAX_TITLE: Final = 45
MAX_LABEL: Final = 45
MAX_TEXT: Final = 4000
"""Discord's limit for a text input's value (and ``max_length``)."""


def dialog_custom_id(kind: ActionKind, job_id: str) -> str:
    value = f"imagine-dialog:{kind.value}:{job_id}"
    if DIALOG_TEMPLATE.fullmatch(value) is None:
        raise ValueError(f"no dialog custom_id for job {job_id[:80]!r}")
    return value


def build_modal(dialog: Dialog) -> discord.ui.Modal:
    """One paragraph field prefilled with ``dialog.text`` (clipped to Discord's limits)."""
    limit = max(1, min(dialog.max_length, MAX_TEXT))
    modal = discord.ui.Modal(
        title=dialog.title[:MAX_TITLE],
        custom_id=dialog_custom_id(dialog.kind, dialog.job_id),
        timeout=None,
    )
    field: discord.ui.TextInput[discord.ui.Modal] = discord.ui.TextInput(
        custom_id=TEXT_FIELD,
        style=discord.TextStyle.paragraph,
        default=dialog.text[:limit],
        max_length=limit,
        required=True,
    )
    modal.add_item(discord.ui.Label(text=dialog.label[:MAX_LABEL], component=field))
    modal.stop()  # handled by custom_id, in this process and the next (see module docstring)
    return modal


@dataclass(frozen=True, slots=True)
class SubmittedDialog:
    kind: ActionKind
    job_id: str
    text: str


def submitted_dialog(interaction: discord.Interaction[Any]) -> SubmittedDialog | None:
    """The Remix form's submit in ``interaction`` (None for any other interaction)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return None
    data: dict[str, Any] = dict(interaction.data or {})
    match = DIALOG_TEMPLATE.fullmatch(str(data.get("custom_id", "")))
    if match is None:
        return None
    text = _value_of(data.get("components") or [], TEXT_FIELD)
    return SubmittedDialog(ActionKind(match["kind"]), match["job_id"], text or "")


def _value_of(components: Iterable[Any], custom_id: str) -> str | None:
    """The submitted value of the text input ``custom_id``, in an action row (type 1), a
    label (type 18) or at the top level."""
    for component in components:
        if not isinstance(component, dict):
            continue
        nested = component.get("components") or (
            [component["component"]] if isinstance(component.get("component"), dict) else []
        )
        if nested:
            found = _value_of(nested, custom_id)
            if found is not None:
                return found
        elif component.get("custom_id") == custom_id and isinstance(component.get("value"), str):
            return str(component["value"])
    return None
