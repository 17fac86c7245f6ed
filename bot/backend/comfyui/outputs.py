"""A ComfyUI history entry as the neutral ``Outcome``: its output files and how it ended.

Outputs are collected generically: every node's UI output lists files by kind (``images``
today; ``gifs``/``videos`` have the same ``{filename, subfolder, type}`` shape). Saved files
(``type: output``) are the results; previews (``temp``) only when nothing was saved."""

from __future__ import annotations

import mimetypes
from collections.abc import Callable, Mapping
from typing import Any, Final

from bot.backend.types import Outcome, OutcomeStatus, ResultFile

_SAVED: Final = "output"
_FEWER: Final = "the workflow made fewer images than asked"


def output_files(entry: Mapping[str, Any]) -> list[dict[str, str]]:
    """Every output file of a history entry, in the order the nodes listed them."""
    outputs = entry.get("outputs")
    files: list[dict[str, str]] = []
    for node_output in outputs.values() if isinstance(outputs, dict) else ():
        if not isinstance(node_output, dict):
            continue
        for items in node_output.values():
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    files.append(
                        {k: str(item.get(k) or "") for k in ("filename", "subfolder", "type")}
                    )
    saved = [f for f in files if f["type"] == _SAVED]
    return saved or files


def outcome_of(
    entry: Mapping[str, Any],
    *,
    view_url: Callable[[Mapping[str, str]], str],
    seed: int | None,
    expected: int,
) -> Outcome:
    """How the job ended; image ``k`` gets ``seed + k``."""
    files = output_files(entry)
    results = [
        ResultFile(
            view_url(file),
            None if seed is None else seed + index,
            mimetypes.guess_type(file["filename"])[0],
        )
        for index, file in enumerate(files)
    ]
    failure = _failure(entry)
    missing = failure or (_FEWER if results else "the workflow finished without saving an image")
    for index in range(len(results), expected):
        results.append(
            ResultFile(None, None if seed is None else seed + index, None, error=missing)
        )
    if any(r.ok for r in results):
        return Outcome(OutcomeStatus.COMPLETED, tuple(results))
    return Outcome(OutcomeStatus.FAILED, tuple(results), missing)


def _failure(entry: Mapping[str, Any]) -> str | None:
    """Why the job failed (from its status messages), or None when it succeeded."""
    status = entry.get("status")
    if not isinstance(status, dict) or status.get("status_str") != "error":
        return None
    messages = status.get("messages")
    for message in messages if isinstance(messages, list) else ():
        if not (isinstance(message, list) and len(message) == 2 and isinstance(message[1], dict)):
            continue
        kind, data = message
        if kind == "execution_interrupted":
            return "it was stopped on the GPU server"
        if kind == "execution_error":
            text = str(data.get("exception_message") or "an error").strip()[:300]
            node = data.get("node_type")
            return f"{text} (in {node})" if isinstance(node, str) and node else text
    return "the GPU server reported an error"
