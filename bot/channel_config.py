"""``/imagine-settings``: show or change a channel's defaults (admins only).

Text forms: empty or ``show``; ``reset``; or ``key=value`` pairs among
``size=WxH``, ``steps=N``, ``style=NAME``, ``backend=NAME`` (``key=default`` clears one)."""

from __future__ import annotations

import re
from dataclasses import replace

from bot.command import CommandDefaults, CommandError
from bot.jobs import ChannelSettings

SIZE = re.compile(r"^(\d{2,5})\s*[x×]\s*(\d{2,5})$", re.IGNORECASE)
KEYS = ("size", "steps", "style", "backend")


def describe(settings: ChannelSettings, defaults: CommandDefaults, default_backend: str) -> str:
    width = settings.width or defaults.width
    height = settings.height or defaults.height
    steps = settings.steps or defaults.steps
    style = settings.style or defaults.style
    backend = settings.backend or default_backend
    overridden = [
        name
        for name, value in (
            ("size", settings.width),
            ("steps", settings.steps),
            ("style", settings.style),
            ("backend", settings.backend),
        )
        if value is not None
    ]
    origin = f" (set here: {', '.join(overridden)})" if overridden else " (all bot defaults)"
    return (
        f"Defaults in this channel: size {width}×{height}, steps {steps}, style {style}, "
        f"backend {backend}{origin}."
    )


def apply(
    text: str,
    current: ChannelSettings,
    defaults: CommandDefaults,
    backends: tuple[str, ...] = (),
) -> ChannelSettings:
    """The settings after ``text`` (``key=value`` pairs, or ``reset``); ``CommandError``
    with a friendly message on bad input."""
    words = text.split()
    if words == ["reset"]:
        return ChannelSettings()
    updated = current
    for word in words:
        key, sep, value = word.partition("=")
        key = key.lower().lstrip("-")
        if not sep or key not in KEYS or not value:
            raise CommandError(
                f"I don't understand `{word[:40]}`. Use size=WxH, steps=N, style=NAME, "
                "backend=NAME, or reset — e.g. `/imagine-settings size=768x768 steps=30`."
            )
        if value.lower() == "default":
            cleared = {"size": {"width": None, "height": None}}.get(key, {key: None})
            updated = replace(updated, **cleared)  # type: ignore[arg-type]
        elif key == "size":
            width, height = _size(value, defaults)
            updated = replace(updated, width=width, height=height)
        elif key == "steps":
            updated = replace(updated, steps=_steps(value, defaults))
        elif key == "backend":
            updated = replace(updated, backend=_backend(value, backends))
        else:
            updated = replace(updated, style=_style(value, defaults))
    return updated


def _size(value: str, d: CommandDefaults) -> tuple[int, int]:
    match = SIZE.match(value)
    if not match:
        raise CommandError("size takes WxH, like size=768x768.")
    width, height = int(match.group(1)), int(match.group(2))
    for side in (width, height):
        if not d.min_side <= side <= d.max_side:
            raise CommandError(f"Each side must be between {d.min_side} and {d.max_side} pixels.")
    return width - width % 8, height - height % 8


def _steps(value: str, d: CommandDefaults) -> int:
    if not value.isdigit() or not d.min_steps <= int(value) <= d.max_steps:
        raise CommandError(f"steps must be a whole number from {d.min_steps} to {d.max_steps}.")
    return int(value)


def _style(value: str, d: CommandDefaults) -> str:
    style = value.lower()
    if style not in d.styles:
        raise CommandError(f"Unknown style `{value[:40]}`. Choose one of: {', '.join(d.styles)}.")
    return style


def _backend(value: str, backends: tuple[str, ...]) -> str:
    name = value.lower()
    if name not in backends:
        raise CommandError(
            f"Unknown backend `{value[:40]}`. Configured here: {', '.join(backends) or 'none'}."
        )
    return name
