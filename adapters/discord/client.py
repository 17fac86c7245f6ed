"""The discord.py client: command tree, persistent buttons and forms, command sync at login,
and the gateway shards this process runs.

Always a ``discord.AutoShardedClient`` (one process may run one shard, several, or all of
them); what discord.py does with shards, as read in its ``shard.py`` / ``state.py``:

* Each shard is its own WebSocket; its IDENTIFY carries ``shard: [id, count]`` and Discord
  sends it the events of the guilds with ``(guild_id >> 22) % count == id``.
* ``shard_count=None`` makes discord.py ask ``GET /gateway/bot`` — and then connect to the
  URL that answer names, not to ``DiscordWebSocket.DEFAULT_GATEWAY``. So the count is
  asked here, in :meth:`setup_hook`, and handed to discord.py (which then honours
  ``DISCORD_GATEWAY_URL``).
* READY is per shard (``on_shard_connect``; ``on_shard_ready`` once its guilds arrived);
  ``on_ready``, ``wait_until_ready`` and ``is_ready`` cover all the shards of this process
  *once*: ``is_ready`` stays true after a shard drops. So the connected shards are
  tracked here from ``on_shard_connect`` / ``on_shard_resumed`` / ``on_shard_disconnect``.
* A shard that drops reconnects by itself; a fatal close on any shard (bad token, 4010
  invalid shard, 4011 sharding required, 4014 intents) closes the whole client and ends
  ``connect()`` with that error.
* The default ``before_identify_hook`` waits 5 s before every IDENTIFY but the first;
  :meth:`before_identify_hook` here spaces them per Discord's rate-limit bucket instead
  (``shard_id % max_concurrency``), so a big bot's shards don't start one per 5 s.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import discord
import yarl
from discord import app_commands

from adapters.discord.buttons import ResultButton
from adapters.discord.commands import build_commands
from adapters.discord.dialogs import submitted_dialog
from adapters.discord.handler import InteractionHandler
from adapters.discord.settings import IDENTIFY_INTERVAL, shard_list

_log = logging.getLogger(__name__)


def intents() -> discord.Intents:
    """Only ``guilds`` (not privileged): slash commands and buttons need no message content."""
    return discord.Intents(guilds=True)


class IdentifyPacer:
    """At most one IDENTIFY per ``interval`` seconds in each of Discord's rate-limit
    buckets (``shard_id % max_concurrency``). Per process: replicas starting together may
    still collide, and Discord then invalidates the session, which discord.py retries."""

    def __init__(self, interval: float = IDENTIFY_INTERVAL, max_concurrency: int = 1) -> None:
        self.interval = interval
        self.max_concurrency = max(1, max_concurrency)
        self._last: dict[int, float] = {}
        self._stopped = asyncio.Event()

    async def wait_turn(self, shard_id: int) -> None:
        """Reserve the bucket's next slot, then wait for it (concurrent callers queue up);
        returns at once after :meth:`stop`."""
        bucket = shard_id % self.max_concurrency
        now = asyncio.get_running_loop().time()
        previous = self._last.get(bucket)
        turn = now if previous is None else max(now, previous + self.interval)
        self._last[bucket] = turn
        if turn > now:
            # Discord's rate limit (not a synchronisation); a close cuts it short.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopped.wait(), turn - now)

    def stop(self) -> None:
        self._stopped.set()


class ImagineClient(discord.AutoShardedClient):
    def __init__(
        self,
        handler: InteractionHandler,
        *,
        guild_id: int | None,
        guild_ready_timeout: float = 2.0,
        shard_count: int | None = None,
        shard_ids: tuple[int, ...] | None = None,
        identify_interval: float = IDENTIFY_INTERVAL,
    ) -> None:
        if shard_ids is None or len(shard_ids) == shard_count:
            # All of them: discord.py launches 0 … count-1 when given no ids.
            super().__init__(
                intents=intents(), guild_ready_timeout=guild_ready_timeout, shard_count=shard_count
            )
        else:
            super().__init__(
                intents=intents(),
                guild_ready_timeout=guild_ready_timeout,
                shard_count=shard_count,
                shard_ids=sorted(shard_ids),
            )
        self._handler = handler
        self._guild_id = guild_id
        self._pacer = IdentifyPacer(identify_interval)
        self._connected: set[int] = set()
        self.tree: app_commands.CommandTree[ImagineClient] = app_commands.CommandTree(self)
        self.synced_commands: list[app_commands.AppCommand] = []

    @property
    def imagine_handler(self) -> InteractionHandler:
        return self._handler

    # shards ---------------------------------------------------------------------------

    @property
    def held_shards(self) -> tuple[int, ...]:
        """The shards this process runs (empty until the count is known, at login)."""
        if self.shard_ids is not None:
            return tuple(self.shard_ids)
        return tuple(range(self.shard_count)) if self.shard_count is not None else ()

    @property
    def missing_shards(self) -> tuple[int, ...]:
        """Held shards whose session is not up (no READY or RESUMED since it dropped)."""
        return tuple(s for s in self.held_shards if s not in self._connected)

    @property
    def syncs_commands(self) -> bool:
        """Only the process that runs shard 0 rewrites the slash commands."""
        return self.shard_ids is None or 0 in self.shard_ids

    def describe_shards(self) -> str:
        """``shards 0, 1 of 4`` (empty for an unsharded bot: one shard in all)."""
        held, count = self.held_shards, self.shard_count
        if count is None or count == 1:
            return ""
        return f"shard{'s' if len(held) > 1 else ''} {shard_list(held)} of {count}"

    async def _plan_shards(self) -> None:
        """Ask Discord how many shards it recommends and how many may IDENTIFY at once;
        the count is taken from it only when ``DISCORD_SHARD_COUNT`` is unset."""
        try:
            recommended, _, limits = await self.http.get_bot_gateway()
        except discord.GatewayNotFound:
            if self.shard_count is None:
                raise
            _log.warning("Discord: GET /gateway/bot failed; starting shards 5 s apart")
            return
        self._pacer.max_concurrency = max(1, int(limits.get("max_concurrency") or 1))
        if self.shard_count is None:
            self.shard_count = recommended
        elif recommended > self.shard_count:
            _log.warning(
                "Discord recommends %d shards for this bot, DISCORD_SHARD_COUNT is %d: "
                "Discord refuses a shard with more than 2,500 servers (close code 4011)",
                recommended,
                self.shard_count,
            )

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        await self._pacer.wait_turn(shard_id or 0)

    async def launch_shard(
        self, gateway: yarl.URL, shard_id: int, *, initial: bool = False
    ) -> None:
        # discord.py retries a failed launch every 5 s for ever, even once closed.
        if not self.is_closed():
            await super().launch_shard(gateway, shard_id, initial=initial)

    async def close(self) -> None:
        self._pacer.stop()  # a shard waiting for its turn to IDENTIFY gives up
        await super().close()

    async def on_shard_connect(self, shard_id: int) -> None:
        self._connected.add(shard_id)

    async def on_shard_resumed(self, shard_id: int) -> None:
        self._connected.add(shard_id)

    async def on_shard_disconnect(self, shard_id: int) -> None:
        if shard_id in self._connected:
            _log.warning("Discord: shard %d disconnected; reconnecting", shard_id)
        self._connected.discard(shard_id)

    # lifecycle ------------------------------------------------------------------------

    async def setup_hook(self) -> None:
        """Runs inside ``login``: register the buttons, plan the shards, sync the slash
        commands (if this process runs shard 0)."""
        self.add_dynamic_items(ResultButton)
        await self._plan_shards()
        guild = discord.Object(id=self._guild_id) if self._guild_id is not None else None
        for command in build_commands():
            self.tree.add_command(command, guild=guild)
        if not self.syncs_commands:
            _log.info(
                "Discord: running %s; the replica with shard 0 syncs the commands",
                self.describe_shards(),
            )
            return
        self.synced_commands = await self.tree.sync(guild=guild)
        _log.info(
            "Discord: synced %s %s",
            ", ".join(f"/{c.name}" for c in self.synced_commands),
            f"to server {self._guild_id}" if guild else "globally (may take up to an hour)",
        )

    async def on_ready(self) -> None:
        shards = self.describe_shards()
        _log.info(
            "Discord: connected as %s (application %s) in %d server(s)%s",
            self.user,
            self.application_id,
            len(self.guilds),
            f" on {shards}" if shards else "",
        )

    async def on_interaction(self, interaction: discord.Interaction[discord.Client]) -> None:
        """Form submits, by their custom_id (whichever process opened the form)."""
        submitted = submitted_dialog(interaction)
        if submitted is not None:
            await self._handler.on_dialog(
                interaction, submitted.kind, submitted.job_id, submitted.text
            )
