"""Request body checks with FastAPI/pydantic-style 422 error entries.

Validation is strict (no coercion): ``"512"`` is not an integer and ``true`` is not ``1``.
"""

from __future__ import annotations

import base64
import io
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from PIL import Image

ErrorEntry = dict[str, Any]
Loc = tuple[str | int, ...]

_MISSING: Final = object()


class RequestInvalid(Exception):
    """The body failed validation; ``errors`` is the ``detail`` list of a 422 answer."""

    def __init__(self, errors: list[ErrorEntry]) -> None:
        super().__init__(f"{len(errors)} validation error(s)")
        self.errors = errors


@dataclass(frozen=True, slots=True)
class GenerationParams:
    prompt: str
    negative_prompt: str
    width: int
    height: int
    steps: int
    seed: int | None
    batch_size: int
    style_name: str
    shot_size: str
    generation_config_name: str
    references: tuple[str, ...]
    entity_ids: tuple[str, ...]
    model_type: str | None
    project_id: str | None
    reference_weight: float = 0.5
    reference_image: bytes | None = None
    """The first ``data:image/...;base64,`` reference, decoded (others are not fetched)."""
    seconds: float | None = None
    """Video length (``POST /api/generation/video``)."""


@dataclass(frozen=True, slots=True)
class ProjectParams:
    type: str
    template_name: str | None
    config: dict[str, Any]


_INT_RANGES: Final[Mapping[str, tuple[int, int]]] = {
    "width": (64, 4096),
    "height": (64, 4096),
    "steps": (1, 150),
    "batch_size": (1, 4),
    "seconds": (1, 10),
}


def json_invalid_error(message: str, position: int) -> RequestInvalid:
    return RequestInvalid(
        [
            {
                "loc": ["body", position],
                "msg": "JSON decode error",
                "type": "json_invalid",
                "ctx": {"error": message},
            }
        ]
    )


class _Checker:
    """Reads typed fields out of one JSON object and collects the errors on the way."""

    def __init__(self, data: Mapping[str, Any], loc: Loc) -> None:
        self._data = data
        self._loc = loc
        self.errors: list[ErrorEntry] = []

    def _error(
        self,
        name: str,
        type_: str,
        msg: str,
        value: Any = _MISSING,
        ctx: dict[str, Any] | None = None,
    ) -> None:
        entry: ErrorEntry = {"loc": [*self._loc, name], "msg": msg, "type": type_}
        if value is not _MISSING:
            entry["input"] = value
        if ctx is not None:
            entry["ctx"] = ctx
        self.errors.append(entry)

    def _get(self, name: str, required: bool) -> Any:
        value = self._data.get(name, _MISSING)
        if value is _MISSING and required:
            self._error(name, "missing", "Field required")
        return value

    def string(
        self,
        name: str,
        *,
        default: str | None = None,
        required: bool = False,
        min_length: int = 0,
        nullable: bool = False,
    ) -> str | None:
        value = self._get(name, required)
        if value is _MISSING:
            return default
        if value is None and nullable:
            return None
        if not isinstance(value, str):
            self._error(name, "string_type", "Input should be a valid string", value)
            return default
        if len(value) < min_length:
            self._error(
                name,
                "string_too_short",
                f"String should have at least {min_length} character"
                + ("s" if min_length != 1 else ""),
                value,
                {"min_length": min_length},
            )
            return default
        return value

    def integer(self, name: str, *, default: int | None, nullable: bool = False) -> int | None:
        value = self._get(name, required=False)
        if value is _MISSING:
            return default
        if value is None and nullable:
            return None
        if isinstance(value, bool) or not isinstance(value, int):
            self._error(name, "int_type", "Input should be a valid integer", value)
            return default
        bounds = _INT_RANGES.get(name)
        if bounds is not None:
            low, high = bounds
            if value < low:
                self._error(
                    name,
                    "greater_than_equal",
                    f"Input should be greater than or equal to {low}",
                    value,
                    {"ge": low},
                )
                return default
            if value > high:
                self._error(
                    name,
                    "less_than_equal",
                    f"Input should be less than or equal to {high}",
                    value,
                    {"le": high},
                )
                return default
        return value

    def string_list(self, name: str) -> tuple[str, ...]:
        value = self._get(name, required=False)
        if value is _MISSING or value is None:
            return ()
        if not isinstance(value, list):
            self._error(name, "list_type", "Input should be a valid list", value)
            return ()
        items: list[str] = []
        for index, item in enumerate(value):
            if isinstance(item, str):
                items.append(item)
            else:
                self.errors.append(
                    {
                        "loc": [*self._loc, name, index],
                        "type": "string_type",
                        "msg": "Input should be a valid string",
                        "input": item,
                    }
                )
        return tuple(items)

    def fraction(self, name: str, *, default: float) -> float:
        """A JSON number from 0 to 1."""
        value = self._get(name, required=False)
        if value is _MISSING:
            return default
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._error(name, "float_type", "Input should be a valid number", value)
            return default
        if not 0 <= value <= 1:
            self._error(
                name,
                "less_than_equal" if value > 1 else "greater_than_equal",
                "Input should be between 0 and 1",
                value,
                {"ge": 0, "le": 1},
            )
            return default
        return float(value)

    def data_image(self, name: str, items: tuple[str, ...]) -> bytes | None:
        """The first ``data:image/...;base64,...`` item decoded; a malformed one is an error."""
        for index, item in enumerate(items):
            if not item.startswith("data:"):
                continue
            head, _, payload = item.partition(",")
            try:
                if not head.startswith("data:image/") or not head.endswith(";base64"):
                    raise ValueError("not a base64 image")
                data = base64.b64decode(payload, validate=True)
                with Image.open(io.BytesIO(data), formats=("PNG", "JPEG", "WEBP")) as image:
                    image.verify()
                return data
            except (ValueError, OSError):
                self.errors.append(
                    {
                        "loc": [*self._loc, name, index],
                        "type": "value_error",
                        "msg": "Value error, a data reference must be data:image/...;base64,...",
                        "input": item[:64],
                    }
                )
        return None

    def uuid(self, name: str) -> str | None:
        value = self._get(name, required=False)
        if value is _MISSING or value is None:
            return None
        if not isinstance(value, str):
            self._error(
                name, "uuid_type", "UUID input should be a string, bytes or UUID object", value
            )
            return None
        try:
            return str(uuid.UUID(value))
        except ValueError:
            self._error(name, "uuid_parsing", "Input should be a valid UUID", value)
            return None


def _object(body: Any, loc: Loc) -> Mapping[str, Any]:
    if not isinstance(body, dict):
        raise RequestInvalid(
            [
                {
                    "loc": list(loc),
                    "type": "model_attributes_type",
                    "input": body,
                    "msg": "Input should be a valid dictionary or object to extract fields from",
                }
            ]
        )
    return body


def parse_generation(body: Any, *, video: bool = False) -> GenerationParams:
    """Check a ``POST /api/generation/image`` (or ``/video``) body."""
    check = _Checker(_object(body, ("body",)), ("body",))
    references = check.string_list("references")
    seconds: float | None = None
    if video:
        seconds = float(check.integer("seconds", default=4) or 4)
    params = GenerationParams(
        prompt=check.string("prompt", default="", required=True, min_length=1) or "",
        negative_prompt=check.string("negative_prompt", default="") or "",
        width=check.integer("width", default=1024) or 1024,
        height=check.integer("height", default=1024) or 1024,
        steps=check.integer("steps", default=20) or 20,
        seed=check.integer("seed", default=None, nullable=True),
        batch_size=check.integer("batch_size", default=1) or 1,
        style_name=check.string("style_name", default="default") or "",
        shot_size=check.string("shot_size", default="Medium Shot") or "",
        generation_config_name=check.string("generation_config_name", default="comfyui/flux") or "",
        references=references,
        entity_ids=check.string_list("entity_ids"),
        model_type=check.string("model_type", nullable=True),
        project_id=check.uuid("project_id"),
        reference_weight=check.fraction("reference_weight", default=0.5),
        reference_image=check.data_image("references", references),
        seconds=seconds,
    )
    if check.errors:
        raise RequestInvalid(check.errors)
    return params


def parse_project(body: Any) -> ProjectParams:
    """Check a ``POST /api/projects`` body; config fields are optional but typed when present."""
    check = _Checker(_object(body, ("body",)), ("body",))
    type_ = check.string("type", required=True, min_length=1)
    template_name = check.string("template_name", nullable=True)
    raw_config = body.get("config", _MISSING)
    config: dict[str, Any] = {}
    if raw_config is _MISSING:
        check.errors.append({"loc": ["body", "config"], "msg": "Field required", "type": "missing"})
    elif not isinstance(raw_config, dict):
        check.errors.append(
            {
                "loc": ["body", "config"],
                "type": "dict_type",
                "msg": "Input should be a valid dictionary",
                "input": raw_config,
            }
        )
    else:
        config = raw_config
        inner = _Checker(config, ("body", "config"))
        for name in (
            "prompt",
            "negative_prompt",
            "style_name",
            "shot_size",
            "generation_config_name",
        ):
            inner.string(name)
        inner.string("model_type", nullable=True)
        for name in ("width", "height", "steps", "batch_size"):
            inner.integer(name, default=None)
        inner.integer("seed", default=None, nullable=True)
        inner.string_list("references")
        inner.string_list("entity_ids")
        check.errors.extend(inner.errors)
    if check.errors:
        raise RequestInvalid(check.errors)
    assert type_ is not None
    return ProjectParams(type=type_, template_name=template_name, config=config)
