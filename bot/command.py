"""The /imagine command language: parsed values and the errors users see."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class ImagineParams:
    """A validated /imagine request. ``seed`` is None when the user gave none."""

    prompt: str
    width: int
    height: int
    steps: int
    style: str
    count: int = 1
    negative_prompt: str = ""
    seed: int | None = None
    aspect_ratio: str | None = None  # as typed, e.g. "3:2", for captions


@dataclass(frozen=True, slots=True)
class CommandDefaults:
    """Defaults and limits: config first, then per-channel settings override."""

    width: int = 1024
    height: int = 1024
    steps: int = 20
    style: str = "default"
    count: int = 1
    styles: tuple[str, ...] = ("default", "photo", "watercolor", "anime", "sketch", "real_estate")
    max_prompt_chars: int = 1000
    min_side: int = 256
    max_side: int = 2048
    min_steps: int = 1
    max_steps: int = 100
    max_count: int = 4


class CommandError(ValueError):
    """Invalid user input. ``str(exc)`` is a friendly message meant for the user."""
