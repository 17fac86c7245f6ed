"""``imagine-bot run`` on Discord as deployed: a child process, the fake Discord, the
emulator. A connection that dies for good ends the process (no silent zombie)."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path
from typing import Any

import aiohttp

from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.support.child import Child
from tests.support.harness import TOKEN


async def ready_checks(session: aiohttp.ClientSession, url: str) -> dict[str, Any]:
    """Ask /readyz until the bot is ready (deadline-bounded)."""
    async with asyncio.timeout(30):
        while True:
            async with session.get(url) as answer:
                body: dict[str, Any] = await answer.json()
                if answer.status == 200:
                    return body
            await asyncio.sleep(0.1)


def run_env(emulator: Emulator, fake: FakeDiscord, tmp_path: Path) -> dict[str, str]:
    return {
        "SUPERDUPER_URL": emulator.base_url,
        "SUPERDUPER_TOKEN": TOKEN,
        "DISCORD_TOKEN": fake.token,
        "DISCORD_GUILD_ID": str(fake.guild_id),
        "DISCORD_API_BASE": fake.api_base,
        "DISCORD_GATEWAY_URL": fake.gateway_url,
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_HEALTH_PORT": "0",
        "IMAGINE_LOG_LEVEL": "INFO",
    }


async def discord_ready_check(child: Child) -> dict[str, Any]:
    """The ``discord`` entry of the child's /readyz, once it is ready."""
    match = re.search(r"port (\d+)", await child.expect("health checks on port"))
    assert match is not None
    async with aiohttp.ClientSession() as session:
        ready = await ready_checks(session, f"http://127.0.0.1:{match.group(1)}/readyz")
    [discord_check] = [c for c in ready["checks"] if c["name"] == "discord"]
    assert isinstance(discord_check, dict)
    return discord_check


async def test_a_revoked_token_ends_the_process_with_a_clear_line(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    token = fake.token
    child = await Child.start("run", env=run_env(emulator, fake, tmp_path))
    discord_check = await discord_ready_check(child)
    assert discord_check["ok"] and "connected as" in discord_check["detail"]
    # What docs/discord.md shows as a successful start.
    connected = await child.expect("Discord: connected as")
    assert f"connected as imagine (application {fake.application_id}) in 1 server(s)" in connected
    synced = await child.expect("Discord: synced")
    assert (
        "synced /imagine, /imagine-settings, /animate, /imagine-history, /imagine-show "
        f"to server {fake.guild_id}"
    ) in synced

    await fake.revoke_token()

    assert await child.finish(timeout=30) == 1
    assert "the discord connection ended" in child.output
    assert "supervisor restarts" in child.output
    assert token not in child.output
    assert "voice will NOT be supported" not in child.output  # noise the operator can't act on


async def test_a_replica_runs_the_shards_it_is_given_and_leaves_the_commands_alone(
    emulator: Emulator, tmp_path: Path
) -> None:
    async with FakeDiscord(shard_count=2) as fake:
        fake.add_guild("Second", shard=1)
        env = {
            **run_env(emulator, fake, tmp_path),
            "DISCORD_SHARD_COUNT": "2",
            "DISCORD_SHARD_IDS": "1",
        }
        child = await Child.start("run", env=env)
        discord_check = await discord_ready_check(child)
        assert discord_check == {
            "name": "discord",
            "ok": True,
            "detail": "connected as imagine (shard 1 of 2)",
        }
        assert [identify["shard"] for identify in fake.identifies] == [[1, 2]]
        connected = await child.expect("Discord: connected as")
        assert "in 1 server(s) on shard 1 of 2" in connected
        assert "the replica with shard 0 syncs the commands" in child.output
        assert fake.requests_to("PUT", r"/applications/\d+/(guilds/\d+/)?commands") == []

        assert await child.terminate(timeout=30) == 0
