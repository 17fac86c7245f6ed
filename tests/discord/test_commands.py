"""What the bot registers with Discord and how it connects."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord

from adapters.discord.endpoints import normalize_api_base
from app.config import load_settings
from bot.command_parser import MAX_SECONDS, MIN_SECONDS
from emulator.superduper import Emulator
from tests.discord.fake import FakeDiscord
from tests.discord.support import discord_stack

STRING, INTEGER, ATTACHMENT = 3, 4, 11
MANAGE_MESSAGES = 1 << 13
PRIVILEGED_INTENTS = (1 << 1) | (1 << 8) | (1 << 15)  # members, presences, message content


def _options(command: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {option["name"]: option for option in command.get("options", [])}


def _synced(fake: FakeDiscord, name: str) -> dict[str, Any]:
    [command] = [c for c in fake.synced_commands[fake.guild_id] if c["name"] == name]
    return command


async def test_imagine_is_synced_to_the_guild_with_typed_described_options(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        assert list(fake.synced_commands) == [fake.guild_id]
        command = _synced(fake, "imagine")
        assert command["description"]
        assert command["contexts"] == [0]  # guilds only: results go to threads
        assert command["default_member_permissions"] is None  # everyone sees /imagine
        options = _options(command)
        assert list(options) == [
            "prompt",
            "negative_prompt",
            "aspect_ratio",
            "seed",
            "steps",
            "style",
            "count",
            "image",
        ]
        assert all(option["description"] for option in options.values())
        assert [name for name, o in options.items() if o.get("required")] == ["prompt"]
        assert options["prompt"]["type"] == STRING and options["prompt"]["max_length"] == 1000
        assert [c["value"] for c in options["aspect_ratio"]["choices"]][:3] == ["1:1", "3:2", "2:3"]
        assert "16:9" in [c["value"] for c in options["aspect_ratio"]["choices"]]
        assert options["style"]["autocomplete"] is True
        assert (
            options["count"]["type"],
            options["count"]["min_value"],
            options["count"]["max_value"],
        ) == (
            INTEGER,
            1,
            4,
        )
        assert (options["steps"]["min_value"], options["steps"]["max_value"]) == (1, 100)
        assert options["seed"]["type"] == INTEGER and options["seed"]["min_value"] == 0
        assert options["image"]["type"] == ATTACHMENT and not options["image"].get("required")


async def test_animate_history_and_show_are_synced_with_their_options(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        animate, history, show = (
            _synced(fake, name) for name in ("animate", "imagine-history", "imagine-show")
        )
        for command in (animate, history, show):
            assert command["description"] and command["contexts"] == [0]
            assert command["default_member_permissions"] is None
            assert all(option["description"] for option in _options(command).values())
        options = _options(animate)
        assert list(options) == ["prompt", "seconds", "aspect_ratio", "seed", "image"]
        assert [name for name, o in options.items() if o.get("required")] == ["prompt"]
        seconds = options["seconds"]
        assert (seconds["type"], seconds["min_value"], seconds["max_value"]) == (INTEGER, 2, 8)
        assert (seconds["min_value"], seconds["max_value"]) == (MIN_SECONDS, MAX_SECONDS)
        assert options["image"]["type"] == ATTACHMENT
        assert _options(history) == {}
        [job] = _options(show).values()
        assert (job["name"], job["type"], job["required"]) == ("job", STRING, True)


async def test_imagine_settings_is_synced_for_server_managers_with_one_optional_option(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        command = _synced(fake, "imagine-settings")
        assert command["description"]
        assert command["contexts"] == [0]
        # Hidden by default from members without Manage Messages (1 << 13): the admins.
        assert int(command["default_member_permissions"]) == MANAGE_MESSAGES
        [changes] = command["options"]
        assert changes["name"] == "changes" and changes["type"] == STRING
        assert not changes.get("required")
        assert "size=768x768" in changes["description"] and "reset" in changes["description"]


async def test_without_a_guild_id_the_commands_are_synced_globally(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    async with discord_stack(emulator, fake, tmp_path / "bot.db", guild=False):
        assert list(fake.synced_commands) == [None]
        assert [c["name"] for c in fake.synced_commands[None]] == [
            "imagine",
            "imagine-settings",
            "animate",
            "imagine-history",
            "imagine-show",
        ]


async def test_style_autocomplete_offers_the_configured_styles(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    alice = fake.add_user("alice")
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        typing = await fake.autocomplete(alice, fake.general, "style", "co")
        await fake.until(lambda: bool(typing.callbacks))
        [answer] = typing.callbacks
        assert answer["type"] == 8
        assert [c["value"] for c in answer["data"]["choices"]] == ["watercolor"]


async def test_connects_with_plain_json_and_no_privileged_intents(
    emulator: Emulator, fake: FakeDiscord, tmp_path: Path
) -> None:
    default_base = discord.http.Route.BASE
    async with discord_stack(emulator, fake, tmp_path / "bot.db"):
        [query] = fake.gateway_queries
        assert (query["v"], query["encoding"]) == ("10", "json")
        [identify] = fake.identifies
        assert identify["intents"] & PRIVILEGED_INTENTS == 0
        assert fake.api_base == discord.http.Route.BASE
    # discord.py's process-wide endpoints are restored when the adapter closes.
    assert discord.http.Route.BASE == default_base == "https://discord.com/api/v10"
    assert str(discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY) == "wss://gateway.discord.gg/"


def test_an_api_base_without_a_version_gets_v10() -> None:
    assert normalize_api_base("http://127.0.0.1:8080/") == "http://127.0.0.1:8080/api/v10"
    assert normalize_api_base("http://h/api/v9") == "http://h/api/v9"


def test_settings_from_the_environment_keep_the_token_out_of_repr() -> None:
    env = {"DISCORD_TOKEN": "secret-token-value", "DISCORD_GUILD_ID": "123"}
    settings = load_settings(env, dotenv_path=None).discord
    assert settings is not None and settings.guild_id == 123
    assert "secret-token-value" not in repr(settings)
    assert load_settings({}, dotenv_path=None).discord is None
