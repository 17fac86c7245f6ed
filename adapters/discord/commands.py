"""The slash commands: ``/imagine`` and ``/animate`` (typed, described options mapped to the
core's keys, an optional image), ``/imagine-settings`` (a channel's defaults, admins
only), ``/imagine-history`` and ``/imagine-show``. Each ``build_*`` makes a fresh command
(one per client, no shared module state)."""

from __future__ import annotations

from collections.abc import Mapping

import discord
from discord import app_commands

from adapters.discord.handler import Command, HasHandler, InteractionHandler

ASPECT_RATIOS = ("1:1", "3:2", "2:3", "4:3", "3:4", "16:9", "9:16")
MAX_SEED = 2**32 - 1
IMAGE_HELP = "An image to start from (PNG, JPEG or WebP)"
PROMPT_HELP = "What to draw (free-text flags like --ar 16:9 or --seed 7 work too)"
ASPECT_HELP = "Shape of the image"
SEED_HELP = "Same seed + same prompt = same image"

DiscordCommand = app_commands.Command[app_commands.Group, ..., None]


def _handler(interaction: discord.Interaction[discord.Client]) -> InteractionHandler | None:
    client = interaction.client
    return client.imagine_handler if isinstance(client, HasHandler) else None


def _given(values: Mapping[str, str | int | None]) -> dict[str, str | int]:
    return {key: value for key, value in values.items() if value is not None}


def _aspect_choices() -> list[app_commands.Choice[str]]:
    return [app_commands.Choice(name=ratio, value=ratio) for ratio in ASPECT_RATIOS]


def build_imagine_command() -> DiscordCommand:
    @app_commands.command(name=Command.IMAGINE, description="Generate an image from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt=PROMPT_HELP,
        negative_prompt="What to keep out of the image",
        aspect_ratio=ASPECT_HELP,
        seed=SEED_HELP,
        steps="More steps: more detail, slower",
        style="Visual style",
        count="How many images (1-4)",
        image=IMAGE_HELP,
    )
    @app_commands.choices(aspect_ratio=_aspect_choices())
    async def imagine(
        interaction: discord.Interaction[discord.Client],
        prompt: app_commands.Range[str, 1, 1000],
        negative_prompt: app_commands.Range[str, 1, 1000] | None = None,
        aspect_ratio: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        steps: app_commands.Range[int, 1, 100] | None = None,
        style: str | None = None,
        count: app_commands.Range[int, 1, 4] | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        options = _given(
            {
                "prompt": prompt,
                "negative_prompt": negative_prompt,
                "aspect_ratio": aspect_ratio,
                "seed": seed,
                "steps": steps,
                "style": style,
                "count": count,
            }
        )
        if handler := _handler(interaction):
            await handler.on_command(interaction, Command.IMAGINE, options=options, image=image)

    @imagine.autocomplete("style")
    async def style_autocomplete(
        interaction: discord.Interaction[discord.Client], current: str
    ) -> list[app_commands.Choice[str]]:
        handler = _handler(interaction)
        names = handler.style_choices(current) if handler else []
        return [app_commands.Choice(name=name, value=name) for name in names[:25]]

    return imagine


def build_animate_command() -> DiscordCommand:
    """``/animate``: a short video. The core answers kindly where the backend makes none."""

    @app_commands.command(name=Command.ANIMATE, description="Make a short video from a prompt")
    @app_commands.guild_only()
    @app_commands.describe(
        prompt=PROMPT_HELP,
        seconds="Length of the clip (2-8 seconds)",
        aspect_ratio=ASPECT_HELP,
        seed=SEED_HELP,
        image="An image for the clip to start from (PNG, JPEG or WebP)",
    )
    @app_commands.choices(aspect_ratio=_aspect_choices())
    async def animate(
        interaction: discord.Interaction[discord.Client],
        prompt: app_commands.Range[str, 1, 1000],
        seconds: app_commands.Range[int, 2, 8] | None = None,  # the core's MIN/MAX_SECONDS
        aspect_ratio: str | None = None,
        seed: app_commands.Range[int, 0, MAX_SEED] | None = None,
        image: discord.Attachment | None = None,
    ) -> None:
        options = _given(
            {"prompt": prompt, "seconds": seconds, "aspect_ratio": aspect_ratio, "seed": seed}
        )
        if handler := _handler(interaction):
            await handler.on_command(interaction, Command.ANIMATE, options=options, image=image)

    return animate


def build_settings_command() -> DiscordCommand:
    """``/imagine-settings``. Discord shows it to members with Manage Messages by default
    (server admins can change that); the core still checks admins."""

    @app_commands.command(
        name=Command.SETTINGS, description="Show or change this channel's /imagine defaults"
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
        if handler := _handler(interaction):
            await handler.on_command(interaction, Command.SETTINGS, text=changes or "")

    return imagine_settings


def build_history_command() -> DiscordCommand:
    @app_commands.command(
        name=Command.HISTORY, description="Your last jobs here, with links to their threads"
    )
    @app_commands.guild_only()
    async def imagine_history(interaction: discord.Interaction[discord.Client]) -> None:
        if handler := _handler(interaction):
            await handler.on_command(interaction, Command.HISTORY)

    return imagine_history


def build_show_command() -> DiscordCommand:
    @app_commands.command(
        name=Command.SHOW, description="Post a finished job's result here again, with its buttons"
    )
    @app_commands.guild_only()
    @app_commands.describe(job="The job id (see /imagine-history)")
    async def imagine_show(
        interaction: discord.Interaction[discord.Client],
        job: app_commands.Range[str, 1, 64],
    ) -> None:
        if handler := _handler(interaction):
            await handler.on_command(interaction, Command.SHOW, text=job)

    return imagine_show


def build_commands() -> list[DiscordCommand]:
    """Every slash command, in the order they are synced."""
    return [
        build_imagine_command(),
        build_settings_command(),
        build_animate_command(),
        build_history_command(),
        build_show_command(),
    ]
