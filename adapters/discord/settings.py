"""Configuration of the Discord adapter (built from the environment by the app)."""

from __future__ import annotations

from dataclasses import dataclass, field

from bot.command import CommandDefaults

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
"""Discord's default per-file upload limit (10 MiB) when no interaction told us better."""


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """How to reach Discord.

    ``api_base`` replaces ``https://discord.com/api/v10`` (REST and interaction
    callbacks) and ``gateway_url`` replaces ``wss://gateway.discord.gg/``; both
    are meant for a local fake Discord in tests. ``guild_id`` syncs the command to
    one guild (instant) instead of globally (may take up to an hour to appear)."""

    token: str = field(repr=False)
    guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    styles: tuple[str, ...] = CommandDefaults().styles
    """Offered by the ``style`` option's autocomplete."""
    ready_timeout: float = 30.0
    """Seconds :meth:`DiscordAdapter.wait_ready` waits for the gateway's READY."""
    guild_ready_timeout: float = 2.0
    """discord.py waits this long after the last GUILD_CREATE before READY (tests: less)."""
    answer_deadline: float = 2.0
    """Seconds the core gets to answer a Remix press with its form before the press is
    deferred (Discord wants an answer within 3 s)."""
