"""The modals the adapter opens, and what comes back when they are submitted.

* A core :class:`~bot.chat.Dialog` (Remix): ``callback_id`` ``imagine_<kind>``
  (``imagine_remix``), one multi-line text input prefilled with the dialog's text.
* *Imagine from this image* (the message shortcut ``imagine_from_image``): one text input
  for the prompt; its submission is an ``/imagine`` with the message's image attached.

Everything a submission needs travels in the view's ``private_metadata`` (JSON, at most
3,000 characters): the job, the channel and thread, the image's file, the shortcut's
``response_url``. So a modal opened before a restart still works when it is submitted
after one."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from bot.chat import (
    ActionKind,
    Attachment,
    Conversation,
    Dialog,
    DialogSubmission,
    Invocation,
)

from .translate import PLATFORM, as_mapping, first_image, requester_of

IMAGE_SHORTCUT: Final = "imagine_from_image"
"""``callback_id`` of the message shortcut (both manifests declare it)."""
IMAGE_VIEW: Final = "imagine_image_prompt"
DIALOG_PREFIX: Final = "imagine_"
DIALOG_VIEW_PATTERN: Final = re.compile(
    rf"^{DIALOG_PREFIX}({'|'.join(k.value for k in ActionKind)})$"
)
TEXT_BLOCK: Final = "imagine_text"
TEXT_ACTION: Final = "text"
MAX_TITLE: Final = 24
MAX_LABEL: Final = 2000
MAX_INPUT: Final = 3000
"""Slack's ``plain_text_input`` holds at most 3,000 characters."""
MAX_METADATA: Final = 3000
MAX_FILENAME: Final = 200
SUBMIT: Final = "Imagine"
CLOSE: Final = "Cancel"
IMAGE_TITLE: Final = "Imagine from image"
IMAGE_LABEL: Final = "Prompt and flags"
IMAGE_PLACEHOLDER: Final = "a watercolor fox in this light --ar 3:2"


class MetadataTooLong(ValueError):
    """What the modal must carry does not fit in ``private_metadata``."""


def dialog_view(dialog: Dialog, where: Conversation) -> dict[str, Any]:
    """The core's dialog as a modal; submitting it comes back as a DialogSubmission."""
    most = max(1, min(dialog.max_length, MAX_INPUT))
    metadata = {
        "k": dialog.kind.value,
        "j": dialog.job_id,
        "w": where.workspace,
        "c": where.channel,
        "t": where.thread,
    }
    element = _text_input(most, initial=dialog.text[:most])
    return _modal(
        f"{DIALOG_PREFIX}{dialog.kind.value}",
        dialog.title,
        metadata,
        [_input_block(dialog.label, element)],
    )


@dataclass(frozen=True, slots=True)
class ImageShortcut:
    """*Imagine from this image* used on a message: its first image, the message's thread
    (where the job will run) and what answers the shortcut."""

    image: Attachment
    where: Conversation
    trigger_id: str
    response_url: str | None


def image_shortcut(body: Mapping[str, Any]) -> ImageShortcut | None:
    """The shortcut's payload, or None when its message has no image we can use."""
    message = as_mapping(body.get("message"))
    image = first_image(message.get("files"))
    channel = str(as_mapping(body.get("channel")).get("id") or "")
    if image is None or not channel:
        return None
    ts = str(message.get("ts") or body.get("message_ts") or "")
    team = str(as_mapping(body.get("team")).get("id") or "")
    where = Conversation(PLATFORM, team, channel, str(message.get("thread_ts") or ts) or None)
    response_url = body.get("response_url")
    return ImageShortcut(
        image,
        where,
        str(body.get("trigger_id") or ""),
        response_url if isinstance(response_url, str) and response_url else None,
    )


def image_prompt_view(shortcut: ImageShortcut) -> dict[str, Any]:
    """The shortcut's modal: what to imagine from its image (in the message's thread)."""
    image, where = shortcut.image, shortcut.where
    name = image.filename[:MAX_FILENAME]
    metadata = {
        "w": where.workspace,
        "c": where.channel,
        "t": where.thread,
        "f": {"u": image.url, "n": name, "m": image.content_type, "s": image.size},
        "r": shortcut.response_url,
    }
    element = _text_input(MAX_INPUT, placeholder=IMAGE_PLACEHOLDER)
    blocks = [
        {
            "type": "context",
            "block_id": "imagine_source",
            "elements": [{"type": "plain_text", "text": f"Starting from {name}"}],
        },
        _input_block(IMAGE_LABEL, element),
    ]
    return _modal(IMAGE_VIEW, IMAGE_TITLE, metadata, blocks)


def dialog_submission(body: Mapping[str, Any]) -> DialogSubmission | None:
    """A submitted dialog modal, or None when its metadata is not ours."""
    view = as_mapping(body.get("view"))
    metadata = _metadata(view)
    kind = metadata.get("k")
    if kind not in {k.value for k in ActionKind} or not metadata.get("j"):
        return None
    where = _conversation(body, metadata)
    if where is None:
        return None
    return DialogSubmission(
        conversation=where,
        requester=requester_of(body),
        kind=ActionKind(str(kind)),
        job_id=str(metadata["j"]),
        text=_text(view),
    )


def image_prompt_submission(body: Mapping[str, Any]) -> tuple[Invocation, str | None] | None:
    """A submitted image-prompt modal: the ``/imagine`` it stands for (the image attached)
    and the shortcut's ``response_url`` for private answers; None when not ours."""
    view = as_mapping(body.get("view"))
    metadata = _metadata(view)
    file = as_mapping(metadata.get("f"))
    where = _conversation(body, metadata)
    url = file.get("u")
    if where is None or not isinstance(url, str) or not url:
        return None
    size = file.get("s")
    image = Attachment(
        url=url,
        filename=str(file.get("n") or "image"),
        content_type=str(file["m"]) if file.get("m") else None,
        size=size if isinstance(size, int) and not isinstance(size, bool) else None,
    )
    invocation = Invocation(where, requester_of(body), text=_text(view), attachments=(image,))
    response_url = metadata.get("r")
    return invocation, response_url if isinstance(response_url, str) and response_url else None


# -- helpers -----------------------------------------------------------------------------


def _plain(text: str, limit: int) -> dict[str, Any]:
    clipped = text if len(text) <= limit else text[: limit - 1] + "…"
    return {"type": "plain_text", "text": clipped or " ", "emoji": True}


def _text_input(
    most: int, *, initial: str | None = None, placeholder: str | None = None
) -> dict[str, Any]:
    element: dict[str, Any] = {
        "type": "plain_text_input",
        "action_id": TEXT_ACTION,
        "multiline": True,
        "max_length": most,
    }
    if initial:
        element["initial_value"] = initial
    if placeholder:
        element["placeholder"] = {"type": "plain_text", "text": placeholder}
    return element


def _input_block(label: str, element: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "input",
        "block_id": TEXT_BLOCK,
        "label": _plain(label, MAX_LABEL),
        "element": element,
    }


def _modal(
    callback_id: str, title: str, metadata: dict[str, Any], blocks: list[dict[str, Any]]
) -> dict[str, Any]:
    encoded = json.dumps(metadata, separators=(",", ":"), ensure_ascii=False)
    if len(encoded) > MAX_METADATA:
        raise MetadataTooLong(f"{len(encoded)} characters of private_metadata")
    return {
        "type": "modal",
        "callback_id": callback_id,
        "title": _plain(title, MAX_TITLE),
        "submit": _plain(SUBMIT, MAX_TITLE),
        "close": _plain(CLOSE, MAX_TITLE),
        "private_metadata": encoded,
        "blocks": blocks,
    }


def _metadata(view: Mapping[str, Any]) -> Mapping[str, Any]:
    try:
        return as_mapping(json.loads(str(view.get("private_metadata") or "")))
    except ValueError:
        return {}


def _conversation(body: Mapping[str, Any], metadata: Mapping[str, Any]) -> Conversation | None:
    channel = metadata.get("c")
    if not isinstance(channel, str) or not channel:
        return None
    team = metadata.get("w") or as_mapping(body.get("team")).get("id") or ""
    thread = metadata.get("t")
    return Conversation(PLATFORM, str(team), channel, str(thread) if thread else None)


def _text(view: Mapping[str, Any]) -> str:
    values = as_mapping(as_mapping(view.get("state")).get("values"))
    value = as_mapping(as_mapping(values.get(TEXT_BLOCK)).get(TEXT_ACTION)).get("value")
    return str(value) if isinstance(value, str) else ""
