"""Discord adapter: ``/imagine`` slash command, result threads, persistent buttons."""

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.port import DiscordChatPort
from adapters.discord.settings import DiscordSettings

__all__ = ["DiscordAdapter", "DiscordChatPort", "DiscordSettings"]
