"""Configuration of the Discord adapter (built from the environment by the app)."""

from __future__ import annotations

from collections.abc import Mapping
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

    @classmethod
    def from_env(
        cls, env: Mapping[str, str], *, styles: tuple[str, ...] | None = None
    ) -> DiscordSettings | None:
        """``DISCORD_TOKEN`` (required, else ``None``: Discord is off),
        ``DISCORD_GUILD_ID``, ``DISCORD_API_BASE``, ``DISCORD_GATEWAY_URL``."""
        token = env.get("DISCORD_TOKEN", "").strip()
        if not token:
            return None
        guild = env.get("DISCORD_GUILD_ID", "").strip()
        if guild and not guild.isdigit():
            raise ValueError("DISCORD_GUILD_ID must be a numeric guild id")
        return cls(
            token=token,
            guild_id=int(guild) if guild else None,
            api_base=env.get("DISCORD_API_BASE", "").strip() or None,
            gateway_url=env.get("DISCORD_GATEWAY_URL", "").strip() or None,
            styles=styles if styles is not None else CommandDefaults().styles,
        )
