"""The slash commands: ``/imagine`` (typed, described options mapped to the core's keys)
and ``/imagine-settings`` (a channel's defaults, admins only)."""

from __future__ import annotations

import discord
from discord import app_commands

from adapters.discord.handler import HasHandler

ASPECT_RATIOS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16")
MAX_SEED = 2**32 - 1


def build_imagine_command() -> app_commands.Command[app_commands.Group, ..., None]:
    """A fresh ``/imagine`` command (one per client, no shared module state)."""

    @app_commands.command(name="imagine", description="Generate an image from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt="What to draw (free-text flags like --ar 16:9 or --seed 7 work too)",
        negative_prompt="What to keep out of the image",
        aspect_ratio="Shape of the image",
        seed="Same seed + same prompt = same image",
        steps="More steps: more detail, slower",
        style="Visual style",
        count="How many images (1-4)",
    )
    @app_commands.choices(
        aspect_ratio=[app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECT_RATIOS]
    )
    async def imagine(
        interaction: discord.Interaction[discord.Client],
        prompt: app_commands.Range[str, 1, 1000],
        negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
        aspect_ratio: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 100] | None = None,
        style: str | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
    ) -> None:
        given: dict[str, str | int | None] = {
            "prompt": prompt,
            "negative_prompt": negative_prompt,
            "aspect_ratio": aspect_ratio,
            "seed": seed,
            "steps": steps,
            "style": style,
            "count": count,
        }
        options = {key: value for key, value in given.items() if value is not None}
        client = interaction.client
        if isinstance(client, HasHandler):
            await client.imagine_handler.on_imagine(interaction, options)

    @imagine.autocomplete("style")
    async def style_autocomplete(
        interaction: discord.Interaction[discord.Client], current: str
    ) -> list[app_commands.Choice[str]]:
        client = interaction.client
        if not isinstance(client, HasHandler):
            return []
        names = client.imagine_handler.style_choices(current)
        return [app_commands.Choice(name=name, value=name) for name in names[:25]]

    return imagine


def build_settings_command() -> app_commands.Command[app_commands.Group, ..., None]:
    """A fresh ``/imagine-settings`` command. Discord shows it to members with Manage
    Server by default (server admins can change that); the core still checks admins."""

    @app_commands.command(
        name="imagine-settings", description="Show or change this channel's /imagine defaults"
    )
    @app_commands.guild_only()
    @app_commands.default_permissions(manage_messages=True)
    @app_commands.describe(
        changes="e.g. size=768x768 steps=30 style=anime, or reset; empty shows the current settings"
    )
    async def imagine_settings(
        interaction: discord.Interaction[discord.Client],
        changes: app_commands.Range[str, 1, 200] | None = None,
    ) -> None:
        client = interaction.client
        if isinstance(client, HasHandler):
            await client.imagine_handler.on_settings(interaction, changes)

    return imagine_settings
