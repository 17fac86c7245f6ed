"""Discord's limits on message components and modals, checked like Discord checks them.

Each check returns Discord's nested ``errors`` object for a 400 ``Invalid Form Body``
(code 50035) — empty when the payload is fine — so the fake can answer exactly as
Discord does and tests can check a layout without a server."""

from __future__ import annotations

from typing import Any, Final

Json = dict[str, Any]

INVALID_FORM_BODY: Final = 50035
MAX_ROWS: Final = 5
MAX_PER_ROW: Final = 5
MAX_CUSTOM_ID: Final = 100
MAX_BUTTON_LABEL: Final = 80
MAX_MODAL_TITLE: Final = 45
MAX_MODAL_COMPONENTS: Final = 5
MAX_INPUT_LABEL: Final = 45
MAX_INPUT_VALUE: Final = 4000
MAX_PLACEHOLDER: Final = 100
ACTION_ROW, BUTTON, TEXT_INPUT, LABEL = 1, 2, 4, 18
LINK_STYLE: Final = 5


def _error(code: str, message: str) -> Json:
    return {"_errors": [{"code": code, "message": message}]}


def _too_long(limit: int) -> Json:
    return _error("BASE_TYPE_MAX_LENGTH", f"Must be {limit} or fewer in length.")


def _length(value: object, limit: int, *, required: bool = True) -> Json | None:
    if value is None:
        return _error("BASE_TYPE_REQUIRED", "This field is required") if required else None
    text = str(value)
    if not text and required:
        return _error("BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
    return _too_long(limit) if len(text) > limit else None


def _put(errors: Json, key: str, error: Json | None) -> None:
    if error:
        errors[key] = error


def message_component_errors(components: list[Json]) -> Json:
    """``components`` of a message: ≤ 5 action rows of ≤ 5 buttons, unique custom ids of
    ≤ 100 characters, labels of ≤ 80."""
    if len(components) > MAX_ROWS:
        return {"components": _too_long(MAX_ROWS)}
    errors: Json = {}
    seen: set[str] = set()
    for r, row in enumerate(components):
        row_errors: Json = {}
        if row.get("type") != ACTION_ROW:
            row_errors = _error("UNION_TYPE_CHOICES", 'Value of field "type" must be 1.')
        elif len(row.get("components") or []) > MAX_PER_ROW:
            row_errors = {"components": _too_long(MAX_PER_ROW)}
        else:
            buttons: Json = {}
            for b, button in enumerate(row.get("components") or []):
                problems = _button_errors(button, seen)
                if problems:
                    buttons[str(b)] = problems
            if buttons:
                row_errors = {"components": buttons}
        if row_errors:
            errors[str(r)] = row_errors
    return {"components": errors} if errors else {}


def _button_errors(button: Json, seen: set[str]) -> Json:
    problems: Json = {}
    if button.get("type") != BUTTON:
        return _error("UNION_TYPE_CHOICES", "Only buttons are checked by this fake.")
    _put(problems, "label", _length(button.get("label"), MAX_BUTTON_LABEL, required=False))
    if button.get("style") == LINK_STYLE:
        _put(problems, "url", _length(button.get("url"), 512))
        return problems
    custom_id = button.get("custom_id")
    _put(problems, "custom_id", _length(custom_id, MAX_CUSTOM_ID))
    if custom_id is not None and str(custom_id) in seen:
        problems["custom_id"] = _error(
            "COMPONENT_CUSTOM_ID_DUPLICATED", "Component custom id cannot be duplicated"
        )
    seen.add(str(custom_id))
    return problems


def modal_errors(data: Json) -> Json:
    """A modal (interaction response type 9): a title of ≤ 45, a custom id of ≤ 100, 1-5
    text inputs (in action rows or labels) with values and lengths of ≤ 4,000."""
    errors: Json = {}
    _put(errors, "title", _length(data.get("title"), MAX_MODAL_TITLE))
    _put(errors, "custom_id", _length(data.get("custom_id"), MAX_CUSTOM_ID))
    components = data.get("components") or []
    if not components:
        errors["components"] = _error("BASE_TYPE_MIN_LENGTH", "Must be 1 or more in length.")
    elif len(components) > MAX_MODAL_COMPONENTS:
        errors["components"] = _too_long(MAX_MODAL_COMPONENTS)
    else:
        found: Json = {}
        for i, component in enumerate(components):
            problems = _modal_component_errors(component)
            if problems:
                found[str(i)] = problems
        if found:
            errors["components"] = found
    return {"data": errors} if errors else {}


def _modal_component_errors(component: Json) -> Json:
    problems: Json = {}
    if component.get("type") == ACTION_ROW:
        inner = component.get("components") or []
        if len(inner) != 1:
            return {"components": _error("BASE_TYPE_BAD_LENGTH", "Must be 1 in length.")}
        problems = _text_input_errors(inner[0], labelled=False)
        return {"components": {"0": problems}} if problems else {}
    if component.get("type") == LABEL:
        _put(problems, "label", _length(component.get("label"), MAX_INPUT_LABEL))
        inner_problems = _text_input_errors(component.get("component") or {}, labelled=True)
        if inner_problems:
            problems["component"] = inner_problems
        return problems
    return _error("UNION_TYPE_CHOICES", 'Value of field "type" must be one of (1, 18).')


def _text_input_errors(text_input: Json, *, labelled: bool) -> Json:
    problems: Json = {}
    if text_input.get("type") != TEXT_INPUT:
        return _error("UNION_TYPE_CHOICES", "Only text inputs are checked by this fake.")
    _put(problems, "custom_id", _length(text_input.get("custom_id"), MAX_CUSTOM_ID))
    if text_input.get("style") not in (1, 2):
        problems["style"] = _error("BASE_TYPE_CHOICES", "Value must be one of (1, 2).")
    # In an action row (the older form) the text input carries its own label.
    _put(
        problems, "label", _length(text_input.get("label"), MAX_INPUT_LABEL, required=not labelled)
    )
    _put(problems, "value", _length(text_input.get("value"), MAX_INPUT_VALUE, required=False))
    _put(
        problems,
        "placeholder",
        _length(text_input.get("placeholder"), MAX_PLACEHOLDER, required=False),
    )
    for key, low in (("min_length", 0), ("max_length", 1)):
        value = text_input.get(key)
        if value is not None and not low <= int(value) <= MAX_INPUT_VALUE:
            problems[key] = _error(
                "NUMBER_TYPE_MAX", f"int value should be between {low} and {MAX_INPUT_VALUE}."
            )
    value, most = text_input.get("value"), text_input.get("max_length")
    if value is not None and most is not None and len(str(value)) > int(most):
        problems["value"] = _too_long(int(most))
    return problems


def invalid_form_body(errors: Json) -> Json:
    """Discord's 400 body for ``errors``."""
    return {"message": "Invalid Form Body", "code": INVALID_FORM_BODY, "errors": errors}
