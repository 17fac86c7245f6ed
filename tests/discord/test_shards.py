"""Sharding: replicas that run disjoint gateway shards of one bot, against a fake Discord
that routes each server's events to the session of its shard ``(guild_id >> 22) % count``.

Each replica here is a whole bot process (core, SQLite store, adapter, discord.py client);
two of them run side by side in one test."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager
from pathlib import Path

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


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    """Discord recommends two shards; the default server (#general) is on shard 0."""
    async with FakeDiscord(shard_count=2) as server:
        yield server


@pytest.fixture
def second(fake: FakeDiscord) -> tuple[FakeGuild, FakeChannel]:
    """A second server, on shard 1, and its #general."""
    return fake.add_guild("Second", shard=1)


def replica(
    emulator: Emulator, fake: FakeDiscord, db: Path, *shards: int
) -> AbstractAsyncContextManager[DiscordStack]:
    """One bot process that runs ``shards`` of 2 (commands synced globally)."""
    return discord_stack(emulator, fake, db, guild=False, shard_count=2, shard_ids=shards)


async def started(fake: FakeDiscord, user_channel: FakeChannel, prompt: str) -> str:
    """Run ``/imagine`` as a new user in ``user_channel``; the private answer."""
    asked = await fake.slash_imagine(fake.add_user("alice"), user_channel, {"prompt": prompt})
    return await private_answer(fake, asked)


async def test_replicas_on_disjoint_shards_each_get_only_their_servers(
    emulator: Emulator,
    fake: FakeDiscord,
    second: tuple[FakeGuild, FakeChannel],
    tmp_path: Path,
) -> None:
    guild2, general2 = second
    alice = fake.add_user("alice")
    async with (
        replica(emulator, fake, tmp_path / "a.db", 0) as a,
        replica(emulator, fake, tmp_path / "b.db", 1) as b,
    ):
        assert fake.sessions() == [(0, 2), (1, 2)]
        assert [g.id for g in a.adapter.client.guilds] == [fake.guild_id]
        assert [g.id for g in b.adapter.client.guilds] == [guild2.id]

        here = await fake.slash_imagine(alice, fake.general, {"prompt": "a fox on shard 0"})
        there = await fake.slash_imagine(alice, general2, {"prompt": "a fox on shard 1"})
        [on_a] = await a.results_in(await new_thread(fake, fake.general))
        [on_b] = await b.results_in(await new_thread(fake, general2))
        job_a, job_b = await a.job_of(on_a), await b.job_of(on_b)

        assert (here.shard, there.shard) == (0, 1)
        assert (await private_answer(fake, here)).startswith("Started")
        assert (await private_answer(fake, there)).startswith("Started")
        assert job_a.conversation.workspace == str(fake.guild_id)
        assert job_b.conversation.workspace == str(guild2.id)
        assert await b.harness.store.get_job(job_a.id) is None  # A's server never reached B
        assert await a.harness.store.get_job(job_b.id) is None
        assert await a.adapter.health() == (True, "connected as imagine (shard 0 of 2)")
        assert await b.adapter.health() == (True, "connected as imagine (shard 1 of 2)")


async def test_only_the_replica_with_shard_0_syncs_the_commands(
    emulator: Emulator,
    fake: FakeDiscord,
    second: tuple[FakeGuild, FakeChannel],
    tmp_path: Path,
) -> None:
    _, general2 = second
    async with replica(emulator, fake, tmp_path / "b.db", 1) as b:
        assert fake.requests_to("PUT", COMMANDS) == []
        async with replica(emulator, fake, tmp_path / "a.db", 0) as a:
            assert len(fake.requests_to("PUT", COMMANDS)) == 1
            assert [c["name"] for c in fake.synced_commands[None]] == [
                c.name for c in a.adapter.client.synced_commands
            ]
        async with replica(emulator, fake, tmp_path / "b2.db", 1):
            assert len(fake.requests_to("PUT", COMMANDS)) == 1  # a restart doesn't rewrite
        assert b.adapter.client.synced_commands == []
        # B runs the commands it did not sync.
        assert (await started(fake, general2, "a fox")).startswith("Started")


async def test_a_replica_posts_into_a_server_whose_shard_another_replica_runs(
    emulator: Emulator,
    fake: FakeDiscord,
    second: tuple[FakeGuild, FakeChannel],
    tmp_path: Path,
) -> None:
    """Replica B (shard 1) starts a job in the second server and goes away; replica A, which
    runs shard 0 only and so never heard of that server on its gateway, takes the job over
    from the shared store and delivers it there through REST: status edits, the image, a
    DM, a delete."""
    guild2, general2 = second
    alice = fake.add_user("alice")
    emulator.config.manual_completion = True
    db = tmp_path / "shared.db"
    async with replica(emulator, fake, db, 1) as b:
        await fake.slash_imagine(alice, general2, {"prompt": "a fox across replicas"})
        job = await started_job(b)
        thread = await new_thread(fake, general2)
    status = fake.messages[thread.id]  # the status message heads the thread
    edits_by_b = len(status.edits)

    async with replica(emulator, fake, db, 0) as a:
        assert a.adapter.client.get_guild(guild2.id) is None
        assert fake.sessions() == [(0, 2)]  # nobody runs shard 1 now
        await emulator.finish(file_ids(job)[0])
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


async def test_health_names_the_shard_that_is_not_connected(
    emulator: Emulator,
    fake: FakeDiscord,
    second: tuple[FakeGuild, FakeChannel],
    tmp_path: Path,
) -> None:
    _, general2 = second
    async with discord_stack(
        emulator, fake, tmp_path / "bot.db", guild=False, shard_count=2
    ) as stack:
        assert await stack.adapter.health() == (True, "connected as imagine (shards 0, 1 of 2)")
        identified = len(fake.identifies)

        await fake.take_shard_down(1)
        await fake.until(lambda: len(fake.identifies) > identified)  # the bot tries again

        assert await stack.adapter.health() == (False, "shard 1 of 2 not connected (reconnecting)")
        assert (await started(fake, fake.general, "a fox on shard 0")).startswith("Started")

        await fake.bring_shard_up(1)
        assert (await started(fake, general2, "a fox on shard 1")).startswith("Started")
        assert await stack.adapter.health() == (True, "connected as imagine (shards 0, 1 of 2)")


@pytest.mark.parametrize(
    ("shard_count", "shard_ids"),
    [(None, None), (2, None), (2, (1, 0))],
    ids=["discord-recommends-2", "count-2", "count-2-ids-0-1"],
)
async def test_one_process_with_every_shard_runs_them_on_one_client(
    emulator: Emulator,
    fake: FakeDiscord,
    second: tuple[FakeGuild, FakeChannel],
    tmp_path: Path,
    shard_count: int | None,
    shard_ids: tuple[int, ...] | None,
) -> None:
    guild2, general2 = second
    async with discord_stack(
        emulator,
        fake,
        tmp_path / "bot.db",
        guild=False,
        shard_count=shard_count,
        shard_ids=shard_ids,
    ) as stack:
        client = stack.adapter.client
        assert isinstance(client, discord.AutoShardedClient)
        assert client.shard_count == 2 and sorted(client.shards) == [0, 1]
        assert sorted(identify["shard"] for identify in fake.identifies) == [[0, 2], [1, 2]]
        assert {g.id for g in client.guilds} == {fake.guild_id, guild2.id}
        for channel in (fake.general, general2):
            assert (await started(fake, channel, "a fox")).startswith("Started")
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


async def test_a_revoked_token_ends_the_connection_of_every_shard(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(
        emulator, fake, tmp_path / "bot.db", guild=False, shard_count=2
    ) as stack:
        await fake.revoke_token()
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
