"""Sharding: replicas that run disjoint gateway shards of one bot, against a fake Discord
that routes each server's events to the session of its shard ``(guild_id >> 22) % count``.

Each replica here is a whole bot process (core, SQLite store, adapter, discord.py client);
two of them run side by side in one test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from app.config import ConfigError, load_settings
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.discord.fake import FakeChannel, FakeDiscord, FakeGuild
from tests.discord.support import (
    DiscordStack,
    discord_stack,
    new_thread,
    private_answer,
    started_job,
)
from tests.support.superduper import file_ids

COMMANDS = r"/applications/\d+/commands"


@dataclass
class Servers:
    """A fake Discord that recommends two shards, with the default server (#general) on
    shard 0 and a second server on shard 1; bot processes to connect to it."""

    emulator: Emulator
    fake: FakeDiscord
    guild2: FakeGuild
    general2: FakeChannel
    """#general of the second server."""
    tmp_path: Path

    def process(
        self, db: str = "bot", **settings: Any
    ) -> AbstractAsyncContextManager[DiscordStack]:
        """One bot process (commands synced globally); ``settings``: ``DiscordSettings``."""
        return discord_stack(
            self.emulator, self.fake, self.tmp_path / f"{db}.db", guild=False, **settings
        )

    def replica(self, db: str, *shards: int) -> AbstractAsyncContextManager[DiscordStack]:
        """A process that runs ``shards`` of 2."""
        return self.process(db, shard_count=2, shard_ids=shards)

    async def started(self, channel: FakeChannel, prompt: str) -> str:
        """A new user runs ``/imagine`` in ``channel``; their private answer."""
        user = self.fake.add_user("alice")
        asked = await self.fake.slash_imagine(user, channel, {"prompt": prompt})
        return await private_answer(self.fake, asked)


@pytest.fixture
async def servers(emulator: Emulator, tmp_path: Path) -> AsyncIterator[Servers]:
    async with FakeDiscord(shard_count=2) as fake:
        guild2, general2 = fake.add_guild("Second", shard=1)
        yield Servers(emulator, fake, guild2, general2, tmp_path)


async def test_replicas_on_disjoint_shards_each_get_only_their_servers(servers: Servers) -> None:
    fake, general2 = servers.fake, servers.general2
    alice = fake.add_user("alice")
    async with (
        servers.replica("a", 0) as a,
        servers.replica("b", 1) as b,
    ):
        assert fake.sessions() == [(0, 2), (1, 2)]
        assert [g.id for g in a.adapter.client.guilds] == [fake.guild_id]
        assert [g.id for g in b.adapter.client.guilds] == [servers.guild2.id]

        here = await fake.slash_imagine(alice, fake.general, {"prompt": "a fox on shard 0"})
        there = await fake.slash_imagine(alice, general2, {"prompt": "a fox on shard 1"})
        [on_a] = await a.results_in(await new_thread(fake, fake.general))
        [on_b] = await b.results_in(await new_thread(fake, general2))
        job_a, job_b = await a.job_of(on_a), await b.job_of(on_b)

        assert (here.shard, there.shard) == (0, 1)
        assert (await private_answer(fake, here)).startswith("Started")
        assert (await private_answer(fake, there)).startswith("Started")
        assert job_a.conversation.workspace == str(fake.guild_id)
        assert job_b.conversation.workspace == str(servers.guild2.id)
        assert await b.harness.store.get_job(job_a.id) is None  # A's server never reached B
        assert await a.harness.store.get_job(job_b.id) is None
        assert await a.adapter.health() == (True, "connected as imagine (shard 0 of 2)")
        assert await b.adapter.health() == (True, "connected as imagine (shard 1 of 2)")


async def test_only_the_replica_with_shard_0_syncs_the_commands(servers: Servers) -> None:
    fake, general2 = servers.fake, servers.general2
    async with servers.replica("b", 1) as b:
        assert fake.requests_to("PUT", COMMANDS) == []
        async with servers.replica("a", 0) as a:
            assert len(fake.requests_to("PUT", COMMANDS)) == 1
            assert [c["name"] for c in fake.synced_commands[None]] == [
                c.name for c in a.adapter.client.synced_commands
            ]
        async with servers.replica("b-again", 1):
            assert len(fake.requests_to("PUT", COMMANDS)) == 1  # a restart doesn't rewrite
        assert b.adapter.client.synced_commands == []
        # B runs the commands it did not sync.
        assert (await servers.started(general2, "a fox")).startswith("Started")


async def test_a_replica_posts_into_a_server_whose_shard_another_replica_runs(
    servers: Servers,
) -> None:
    """Replica B (shard 1) starts a job in the second server and goes away; replica A, which
    runs shard 0 only and so never heard of that server on its gateway, takes the job over
    from the shared store and delivers it there through REST: status edits, the image, a
    DM, a delete."""
    fake, general2 = servers.fake, servers.general2
    alice = fake.add_user("alice")
    servers.emulator.config.manual_completion = True
    async with servers.replica("shared", 1) as b:
        await fake.slash_imagine(alice, general2, {"prompt": "a fox across replicas"})
        job = await started_job(b)
        thread = await new_thread(fake, general2)
    status = fake.messages[thread.id]  # the status message heads the thread
    edits_by_b = len(status.edits)

    async with servers.replica("shared", 0) as a:
        assert a.adapter.client.get_guild(servers.guild2.id) is None
        assert fake.sessions() == [(0, 2)]  # nobody runs shard 1 now
        await servers.emulator.finish(file_ids(job)[0])
        [result] = await a.results_in(thread)
        done = await a.harness.store.get_job(job.id)
        assert done is not None
        await a.adapter.port.notify_user(done.conversation, str(alice.id), "Your fox is ready.")
        await a.adapter.port.delete_message(done.conversation, str(result.id))

    assert done.state is JobState.POSTED and done.posted_message_ids == (str(result.id),)
    assert result.attachments and result.channel_id == thread.id
    assert len(status.edits) > edits_by_b  # A edited B's status message
    [dm] = [c for c in fake.channels.values() if c.recipient_id == alice.id]
    assert [m.content for m in fake.messages_in(dm)] == ["Your fox is ready."]
    assert result.deleted


async def lose_shard(fake: FakeDiscord, shard: int) -> None:
    """Discord drops the shard's session; returns once the bot is trying it again."""
    identified = len(fake.identifies)
    await fake.take_shard_down(shard)
    await fake.until(lambda: len(fake.identifies) > identified)


async def test_health_names_the_shard_that_is_not_connected(servers: Servers) -> None:
    fake, general2 = servers.fake, servers.general2
    async with servers.process(shard_count=2) as stack:
        assert await stack.adapter.health() == (True, "connected as imagine (shards 0, 1 of 2)")

        await lose_shard(fake, 1)

        assert await stack.adapter.health() == (False, "shard 1 of 2 not connected (reconnecting)")
        assert (await servers.started(fake.general, "a fox on shard 0")).startswith("Started")

        await fake.bring_shard_up(1)
        assert (await servers.started(general2, "a fox on shard 1")).startswith("Started")
        assert await stack.adapter.health() == (True, "connected as imagine (shards 0, 1 of 2)")


async def test_health_of_a_bot_with_one_shard_says_when_it_lost_discord(servers: Servers) -> None:
    async with servers.process(shard_count=1) as stack:
        assert await stack.adapter.health() == (True, "connected as imagine")
        await lose_shard(servers.fake, 0)
        assert await stack.adapter.health() == (False, "disconnected from Discord (reconnecting)")


@pytest.mark.parametrize(
    ("shard_count", "shard_ids"),
    [(None, None), (2, None), (2, (1, 0))],
    ids=["discord-recommends-2", "count-2", "count-2-ids-0-1"],
)
async def test_one_process_with_every_shard_runs_them_on_one_client(
    servers: Servers,
    shard_count: int | None,
    shard_ids: tuple[int, ...] | None,
) -> None:
    fake, general2 = servers.fake, servers.general2
    async with servers.process(shard_count=shard_count, shard_ids=shard_ids) as stack:
        client = stack.adapter.client
        assert isinstance(client, discord.AutoShardedClient)
        assert client.shard_count == 2 and sorted(client.shards) == [0, 1]
        assert sorted(identify["shard"] for identify in fake.identifies) == [[0, 2], [1, 2]]
        assert {g.id for g in client.guilds} == {fake.guild_id, servers.guild2.id}
        for channel in (fake.general, general2):
            assert (await servers.started(channel, "a fox")).startswith("Started")
        assert sorted(i.shard for i in fake.interactions.values() if i.shard is not None) == [0, 1]
        assert len(fake.requests_to("PUT", COMMANDS)) == 1


async def test_shards_in_different_identify_buckets_connect_without_waiting(
    emulator: Emulator, tmp_path: Path
) -> None:
    """Discord allows one IDENTIFY per 5 s in each bucket ``shard_id % max_concurrency``:
    with two buckets, shard 1 doesn't wait for shard 0 (here a minute, were it to)."""
    async with (
        FakeDiscord(shard_count=2, max_concurrency=2) as fake,
        discord_stack(emulator, fake, tmp_path / "bot.db", identify_interval=60.0) as stack,
    ):
        assert await stack.adapter.health() == (True, "connected as imagine (shards 0, 1 of 2)")


async def test_a_revoked_token_ends_the_connection_of_every_shard(servers: Servers) -> None:
    async with servers.process(shard_count=2) as stack:
        await servers.fake.revoke_token()
        with pytest.raises(discord.ConnectionClosed) as closed:
            await asyncio.wait_for(stack.adapter.wait_closed(), 10)
        assert closed.value.code == 4004
        assert await stack.adapter.health() == (False, "the Discord connection ended")


def _problems(env: dict[str, str]) -> list[str]:
    with pytest.raises(ConfigError) as refused:
        load_settings({"DISCORD_TOKEN": "a-discord-token", **env}, None)
    return str(refused.value).splitlines()


@pytest.mark.parametrize(
    ("env", "lines"),
    [
        (
            {"DISCORD_SHARD_COUNT": "0"},
            ["- DISCORD_SHARD_COUNT must be between 1 and 100000 (got '0')"],
        ),
        (
            {"DISCORD_SHARD_COUNT": "two", "DISCORD_SHARD_IDS": "0"},
            ["- DISCORD_SHARD_COUNT must be a whole number (got 'two')"],
        ),
        (
            {"DISCORD_SHARD_IDS": "0,1"},
            [
                "- DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT, the total number of shards "
                "across all replicas"
            ],
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "0;1"},
            ["- DISCORD_SHARD_IDS must be shard numbers separated by commas, e.g. 0,1 (got '0;1')"],
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1,-2"},
            [
                "- DISCORD_SHARD_IDS must be shard numbers separated by commas, e.g. 0,1 "
                "(got '1,-2')"
            ],
        ),
        (
            {"DISCORD_SHARD_COUNT": "4", "DISCORD_SHARD_IDS": "1, 3, 1, 4, 7"},
            [
                "- DISCORD_SHARD_IDS lists shard 1 more than once (got '1, 3, 1, 4, 7')",
                "- DISCORD_SHARD_IDS has shards 4, 7, but with DISCORD_SHARD_COUNT=4 shards "
                "are numbered 0 to 3",
            ],
        ),
    ],
    ids=[
        "count-0",
        "count-not-a-number",
        "ids-without-count",
        "ids-bad-separator",
        "negative",
        "duplicate-and-beyond",
    ],
)
def test_invalid_shard_settings_are_one_line_each(env: dict[str, str], lines: list[str]) -> None:
    assert _problems(env) == lines


def test_shard_settings_reach_the_adapter() -> None:
    env = {"DISCORD_TOKEN": "a-discord-token", "DISCORD_SHARD_COUNT": "4"}
    settings = load_settings({**env, "DISCORD_SHARD_IDS": " 3,1 "}, None).discord
    assert settings is not None
    assert (settings.shard_count, settings.shard_ids) == (4, (1, 3))
    assert not settings.holds_every_shard
    every = load_settings(env, None).discord
    assert every is not None and every.shard_ids is None and every.holds_every_shard
    unset = load_settings({"DISCORD_TOKEN": "a-discord-token"}, None).discord
    assert unset is not None and (unset.shard_count, unset.shard_ids) == (None, None)
