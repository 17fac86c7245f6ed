"""Configuration of the Discord adapter (built from the environment by the app)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from bot.command import CommandDefaults

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
"""Discord's default per-file upload limit (10 MiB) when no interaction told us better."""

IDENTIFY_INTERVAL = 5.0
"""Discord accepts one IDENTIFY per rate-limit bucket per 5 seconds."""


def shard_of(guild_id: int, shard_count: int) -> int:
    """The shard that receives a guild's events (Discord's formula)."""
    return (guild_id >> 22) % shard_count


def shard_list(ids: Iterable[int]) -> str:
    """``0-3, 7`` for the shards 0, 1, 2, 3 and 7 (as people read them in logs and health)."""
    ordered = sorted(set(ids))
    spans: list[str] = []
    i = 0
    while i < len(ordered):
        j = i
        while j + 1 < len(ordered) and ordered[j + 1] == ordered[j] + 1:
            j += 1
        if j - i >= 2:
            spans.append(f"{ordered[i]}-{ordered[j]}")
        else:
            spans.extend(str(shard) for shard in ordered[i : j + 1])
        i = j + 1
    return ", ".join(spans)


@dataclass(frozen=True, slots=True)
class DiscordSettings:
    """How to reach Discord.

    ``api_base`` replaces ``https://discord.com/api/v10`` (REST and interaction
    callbacks) and ``gateway_url`` replaces ``wss://gateway.discord.gg/``; both
    are meant for a local fake Discord in tests. ``guild_id`` syncs the command to
    one guild (instant) instead of globally (may take up to an hour to appear).

    ``shard_count`` is the total number of gateway shards across every replica
    (``None``: as many as Discord recommends, all in this process); ``shard_ids`` are
    the ones this process runs (``None``: all of them)."""

    token: str = field(repr=False)
    guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None
    styles: tuple[str, ...] = CommandDefaults().styles
    """Offered by the ``style`` option's autocomplete."""
    shard_count: int | None = None
    shard_ids: tuple[int, ...] | None = None
    ready_timeout: float = 30.0
    """Seconds :meth:`DiscordAdapter.wait_ready` waits for the gateway's READY."""
    guild_ready_timeout: float = 2.0
    """discord.py waits this long after the last GUILD_CREATE before READY (tests: less)."""
    answer_deadline: float = 2.0
    """Seconds the core gets to answer a Remix press with its form before the press is
    deferred (Discord wants an answer within 3 s)."""
    identify_interval: float = IDENTIFY_INTERVAL
    """Seconds between two IDENTIFYs in one of Discord's rate-limit buckets (tests: less)."""

    def __post_init__(self) -> None:
        if self.shard_count is not None and self.shard_count < 1:
            raise ValueError("shard_count must be at least 1")
        if self.shard_ids is None:
            return
        if self.shard_count is None:
            raise ValueError("shard_ids need a shard_count")
        if not self.shard_ids or len(set(self.shard_ids)) != len(self.shard_ids):
            raise ValueError("shard_ids must list each shard once")
        if not all(0 <= shard < self.shard_count for shard in self.shard_ids):
            raise ValueError(f"shard_ids must be between 0 and {self.shard_count - 1}")

    @property
    def holds_every_shard(self) -> bool:
        """Whether this process runs all the shards (one ``AutoShardedClient`` for them all)."""
        return self.shard_ids is None or len(self.shard_ids) == self.shard_count
