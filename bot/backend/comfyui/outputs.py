"""A ComfyUI history entry as the neutral ``Outcome``: its output files and how it ended.

Outputs are collected generically: every node's UI output lists files by kind, each
``{filename, subfolder, type}``. A file is a *clip* when it is listed under ``gifs`` or
``videos`` (custom nodes: VideoHelperSuite's ``VHS_VideoCombine`` gives ``{"gifs": [{...,
"format": "video/h264-mp4"}]}``) or under ``images`` of a node output marked
``"animated": [true]`` (the stock ``SaveVideo``/``SaveWEBM``: ``ui.PreviewVideo``). A job
asking for a video takes the clips, one asking for images the other files. Saved files
(``type: output``) are the results; previews (``temp``) only when nothing was saved."""

from __future__ import annotations

import mimetypes
import posixpath
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from bot.backend.types import Outcome, OutcomeStatus, ResultFile
from bot.media.video import CONTENT_TYPES as CLIP_CONTENT_TYPES
from bot.media.video import EXTENSIONS as CLIP_EXTENSIONS

_SAVED: Final = "output"
_CLIP_KINDS: Final = frozenset({"gifs", "videos"})
CLIP_TYPES: Final = MappingProxyType(
    {f".{CLIP_EXTENSIONS[fmt]}": content_type for fmt, content_type in CLIP_CONTENT_TYPES.items()}
)
"""The clips the bot can post, by file extension: ``.mp4``, ``.webm``, ``.gif``."""


@dataclass(frozen=True, slots=True)
class OutputFile:
    filename: str
    subfolder: str
    type: str
    clip: bool

    @property
    def query(self) -> dict[str, str]:
        """What ``/view`` takes to serve it."""
        return {"filename": self.filename, "subfolder": self.subfolder, "type": self.type}

    @property
    def content_type(self) -> str | None:
        if self.clip:
            return CLIP_TYPES.get(posixpath.splitext(self.filename)[1].lower())
        return mimetypes.guess_type(self.filename)[0]


def output_files(entry: Mapping[str, Any], *, clips: bool = False) -> list[OutputFile]:
    """The output files of a history entry (clips, or everything else), in the order the
    nodes listed them; the saved ones if any were saved."""
    outputs = entry.get("outputs")
    files: list[OutputFile] = []
    for node_output in outputs.values() if isinstance(outputs, dict) else ():
        if not isinstance(node_output, dict):
            continue
        animated = node_output.get("animated")
        moving = isinstance(animated, list) and True in animated
        for kind, items in node_output.items():
            clip = kind in _CLIP_KINDS or (kind == "images" and moving)
            if clip != clips:
                continue
            for item in items if isinstance(items, list) else ():
                if isinstance(item, dict) and isinstance(item.get("filename"), str):
                    name, subfolder, folder = (
                        str(item.get(k) or "") for k in ("filename", "subfolder", "type")
                    )
                    files.append(OutputFile(name, subfolder, folder, clip))
    saved = [f for f in files if f.type == _SAVED]
    return saved or files


def outcome_of(
    entry: Mapping[str, Any],
    *,
    view_url: Callable[[Mapping[str, str]], str],
    seed: int | None,
    expected: int,
    video: bool = False,
) -> Outcome:
    """How the job ended; output ``k`` gets ``seed + k``. ``video``: the job asked for a
    clip (a clip saved in a format the bot cannot post is a failed output, saying so)."""
    what = "clip" if video else "image"
    results = []
    for index, file in enumerate(output_files(entry, clips=video)):
        own_seed = None if seed is None else seed + index
        content_type = file.content_type
        if video and content_type is None:
            formats = ", ".join(sorted(CLIP_TYPES))
            error = f"the workflow saved the clip as {file.filename}; the bot posts {formats}"
            results.append(ResultFile(None, own_seed, None, error=error))
        else:
            results.append(ResultFile(view_url(file.query), own_seed, content_type))
    failure = _failure(entry)
    missing = failure or (
        f"the workflow made fewer {what}s than asked"
        if results
        else f"the workflow finished without saving {'a clip' if video else 'an image'}"
    )
    for index in range(len(results), expected):
        results.append(
            ResultFile(None, None if seed is None else seed + index, None, error=missing)
        )
    if any(r.ok for r in results):
        return Outcome(OutcomeStatus.COMPLETED, tuple(results))
    reason = failure or next((r.error for r in results if r.error), missing)
    return Outcome(OutcomeStatus.FAILED, tuple(results), reason)


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
