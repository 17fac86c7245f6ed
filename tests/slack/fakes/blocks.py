"""Block Kit limits as Slack enforces them, for the fake to refuse what Slack refuses.

Only the parts of Block Kit the bot uses are modelled (section, actions with buttons,
context, input with a plain-text input; message and modal surfaces); anything else is
an error, so a new kind of block shows up here first. Each problem is worded like
Slack's, with a JSON pointer: ``must be less than 76 characters
[json-pointer:/blocks/1/elements/0/text/text]``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

MESSAGE_BLOCKS: Final = 50
MODAL_BLOCKS: Final = 100
ACTIONS_ELEMENTS: Final = 25
CONTEXT_ELEMENTS: Final = 10
ID_LENGTH: Final = 255
"""``block_id``, ``action_id`` and a view's ``callback_id``."""
SECTION_TEXT: Final = 3000
BUTTON_TEXT: Final = 75
BUTTON_VALUE: Final = 2000
INPUT_LABEL: Final = 2000
INPUT_MAX_LENGTH: Final = 3000
PLACEHOLDER: Final = 150
MODAL_TITLE: Final = 24
PRIVATE_METADATA: Final = 3000
CONFIRM_TITLE: Final = 100
CONFIRM_TEXT: Final = 300
CONFIRM_BUTTON: Final = 30


class _Check:
    def __init__(self) -> None:
        self.errors: list[str] = []

    def fail(self, problem: str, pointer: str) -> None:
        self.errors.append(f"{problem} [json-pointer:{pointer}]")

    def text(
        self,
        value: object,
        pointer: str,
        limit: int,
        *,
        plain: bool = False,
        required: bool = True,
    ) -> None:
        if value is None and not required:
            return
        obj = value if isinstance(value, Mapping) else {}
        kind, text = obj.get("type"), obj.get("text")
        if kind not in (("plain_text",) if plain else ("plain_text", "mrkdwn")):
            self.fail("must be a valid enum value", f"{pointer}/type")
        if not isinstance(text, str) or not text:
            self.fail("must be more than 0 characters", f"{pointer}/text")
        elif len(text) > limit:
            self.fail(f"must be less than {limit + 1} characters", f"{pointer}/text")

    def identifier(self, value: object, pointer: str, *, required: bool = False) -> None:
        if value is None and not required:
            return
        if not isinstance(value, str) or not value:
            self.fail("must be more than 0 characters", pointer)
        elif len(value) > ID_LENGTH:
            self.fail(f"must be less than {ID_LENGTH + 1} characters", pointer)

    def unique(self, value: object, seen: set[str], pointer: str, what: str) -> None:
        """An identifier that must not repeat among its siblings (``seen``)."""
        self.identifier(value, pointer)
        if isinstance(value, str):
            if value in seen:
                self.fail(f"duplicate {what}", pointer)
            seen.add(value)

    def items(self, value: object, pointer: str, limit: int, *, empty: bool) -> list[object]:
        """``value`` as a list of at most ``limit`` items ([] after a failure)."""
        if not isinstance(value, list) or (not value and not empty):
            self.fail("must be an array" if empty else "must be more than 0 items", pointer)
            return []
        if len(value) > limit:
            self.fail(f"must be less than {limit + 1} items", pointer)
        return value


def message_errors(blocks: object) -> list[str]:
    """What Slack says about a message's ``blocks`` (``invalid_blocks``); [] when valid."""
    check = _Check()
    _blocks(check, blocks, "/blocks", MESSAGE_BLOCKS, modal=False)
    return check.errors


def view_errors(view: object) -> list[str]:
    """What Slack says about a modal (``views.open``: ``invalid_arguments``); [] when valid."""
    check = _Check()
    obj = view if isinstance(view, Mapping) else {}
    if obj.get("type") != "modal":
        check.fail("must be a valid enum value", "/view/type")
    check.text(obj.get("title"), "/view/title", MODAL_TITLE, plain=True)
    for button in ("submit", "close"):
        check.text(obj.get(button), f"/view/{button}", MODAL_TITLE, plain=True, required=False)
    check.identifier(obj.get("callback_id"), "/view/callback_id")
    metadata = obj.get("private_metadata")
    if metadata is not None and (not isinstance(metadata, str) or len(metadata) > PRIVATE_METADATA):
        check.fail(f"must be less than {PRIVATE_METADATA + 1} characters", "/view/private_metadata")
    blocks = obj.get("blocks")
    _blocks(check, blocks, "/view/blocks", MODAL_BLOCKS, modal=True)
    has_input = isinstance(blocks, list) and any(
        isinstance(b, Mapping) and b.get("type") == "input" for b in blocks
    )
    if has_input and obj.get("submit") is None:
        check.fail("must provide a submit property when using input blocks", "/view/submit")
    return check.errors


def _blocks(check: _Check, blocks: object, pointer: str, limit: int, *, modal: bool) -> None:
    seen: set[str] = set()
    for n, block in enumerate(check.items(blocks, pointer, limit, empty=True)):
        here = f"{pointer}/{n}"
        if not isinstance(block, Mapping):
            check.fail("must be an object", here)
            continue
        check.unique(block.get("block_id"), seen, f"{here}/block_id", "block_id")
        kind = block.get("type")
        if kind == "section":
            check.text(block.get("text"), f"{here}/text", SECTION_TEXT)
        elif kind == "actions":
            _actions(check, block.get("elements"), f"{here}/elements")
        elif kind == "context":
            _context(check, block.get("elements"), f"{here}/elements")
        elif kind == "input" and modal:
            _input(check, block, here)
        else:
            check.fail("must be a valid enum value", f"{here}/type")


def _actions(check: _Check, elements: object, pointer: str) -> None:
    seen: set[str] = set()
    for n, element in enumerate(check.items(elements, pointer, ACTIONS_ELEMENTS, empty=False)):
        here = f"{pointer}/{n}"
        button = element if isinstance(element, Mapping) else {}
        if button.get("type") != "button":
            check.fail("must be a valid enum value", f"{here}/type")
            continue
        check.unique(button.get("action_id"), seen, f"{here}/action_id", "action_id")
        check.text(button.get("text"), f"{here}/text", BUTTON_TEXT, plain=True)
        value = button.get("value")
        if value is not None and (not isinstance(value, str) or len(value) > BUTTON_VALUE):
            check.fail(f"must be less than {BUTTON_VALUE + 1} characters", f"{here}/value")
        if button.get("style") not in (None, "primary", "danger"):
            check.fail("must be a valid enum value", f"{here}/style")
        confirm = button.get("confirm")
        if confirm is not None:
            dialog = confirm if isinstance(confirm, Mapping) else {}
            check.text(dialog.get("title"), f"{here}/confirm/title", CONFIRM_TITLE, plain=True)
            check.text(dialog.get("text"), f"{here}/confirm/text", CONFIRM_TEXT)
            for part in ("confirm", "deny"):
                check.text(dialog.get(part), f"{here}/confirm/{part}", CONFIRM_BUTTON, plain=True)


def _context(check: _Check, elements: object, pointer: str) -> None:
    for n, element in enumerate(check.items(elements, pointer, CONTEXT_ELEMENTS, empty=False)):
        check.text(element, f"{pointer}/{n}", SECTION_TEXT)


def _input(check: _Check, block: Mapping[str, Any], pointer: str) -> None:
    check.text(block.get("label"), f"{pointer}/label", INPUT_LABEL, plain=True)
    element = block.get("element")
    field = element if isinstance(element, Mapping) else {}
    here = f"{pointer}/element"
    if field.get("type") != "plain_text_input":
        check.fail("must be a valid enum value", f"{here}/type")
        return
    check.identifier(field.get("action_id"), f"{here}/action_id")
    check.text(field.get("placeholder"), f"{here}/placeholder", PLACEHOLDER, required=False)
    most = field.get("max_length", INPUT_MAX_LENGTH)
    if not isinstance(most, int) or not 1 <= most <= INPUT_MAX_LENGTH:
        check.fail(f"must be less than {INPUT_MAX_LENGTH + 1}", f"{here}/max_length")
        most = INPUT_MAX_LENGTH
    initial = field.get("initial_value")
    if initial is not None and (not isinstance(initial, str) or len(initial) > most):
        check.fail(f"must be less than {most + 1} characters", f"{here}/initial_value")
