"""Slack adapter: ``/imagine``, ``@imagine`` mentions and result buttons via slack-bolt."""

from .adapter import SlackAdapter, SlackStartupError
from .port import BotIdentity, SlackChatPort
from .settings import SlackSettings

__all__ = [
    "BotIdentity",
    "SlackAdapter",
    "SlackChatPort",
    "SlackSettings",
    "SlackStartupError",
]
