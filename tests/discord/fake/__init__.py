"""A local fake Discord (REST + gateway) for the real discord.py client."""

from tests.discord.fake.model import (
    FakeChannel,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
)
from tests.discord.fake.server import MANAGE_MESSAGES, MEMBER_PERMISSIONS, FakeDiscord

__all__ = [
    "MANAGE_MESSAGES",
    "MEMBER_PERMISSIONS",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeInteraction",
    "FakeMessage",
    "FakeUser",
]
