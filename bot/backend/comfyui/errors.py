"""ComfyUI's refusals, worded for a person: which node and input, and ComfyUI's own message."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Final

from bot.backend.comfyui.settings import CHECKPOINT_SETTING, WORKFLOW_SETTING
from bot.backend.errors import BackendError, InvalidRequest

_MAX_MESSAGE: Final = 600
_CHECKPOINT_INPUT: Final = "ckpt_name"


class UnexpectedResponse(BackendError):
    """A host answered something this client cannot read (bad JSON, missing fields)."""


def refusal(
    body: object, *, host: str, node_title: Callable[[str], str], checkpoint: str
) -> InvalidRequest:
    """The ``InvalidRequest`` for a 400 from ``POST /prompt`` (``{"error", "node_errors"}``).

    ``node_title`` names a node of the submitted workflow for people; ``setting`` is
    ``COMFYUI_CHECKPOINT`` when the checkpoint was refused, else ``COMFYUI_WORKFLOW``."""
    data = body if isinstance(body, dict) else {}
    node_errors = data.get("node_errors")
    parts: list[str] = []
    setting = WORKFLOW_SETTING
    if isinstance(node_errors, dict):
        for node_id, entry in node_errors.items():
            errors = entry.get("errors") if isinstance(entry, dict) else None
            for error in errors if isinstance(errors, list) else ():
                if not isinstance(error, dict):
                    continue
                line, about_checkpoint = _node_error(str(node_id), error, node_title)
                if about_checkpoint:
                    setting = CHECKPOINT_SETTING
                    line = (
                        f"the checkpoint {checkpoint!r} is not installed on {host} ({line}); "
                        f"check {CHECKPOINT_SETTING}"
                    )
                parts.append(line)
    if not parts:
        error = data.get("error")
        parts.append(_top_error(error) if isinstance(error, dict) else "the workflow was refused")
    message = "; ".join(parts)
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 1] + "…"
    return InvalidRequest(message, details=body, setting=setting)


def _node_error(
    node_id: str, error: Mapping[str, Any], node_title: Callable[[str], str]
) -> tuple[str, bool]:
    extra = error.get("extra_info")
    name = extra.get("input_name") if isinstance(extra, dict) else None
    message = str(error.get("message") or error.get("type") or "invalid")
    details = str(error.get("details") or "")
    where = f"{node_title(node_id)} (node {node_id})"
    if isinstance(name, str) and name:
        where += f", input {name}"
    text = f"{where}: {message}"
    if details and details != name:
        text += f" ({details})"
    return text, name == _CHECKPOINT_INPUT and error.get("type") == "value_not_in_list"


def _top_error(error: Mapping[str, Any]) -> str:
    message = str(error.get("message") or "the workflow was refused").rstrip(".")
    details = str(error.get("details") or "")
    return f"{message} ({details})" if details else message
