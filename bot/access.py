"""Who may use the bot where, and what they may ask for. Every refusal is a sentence
for the requester; nothing refused ever reaches the image service."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.chat import Conversation, Requester


@dataclass(frozen=True, slots=True)
class AccessConfig:
    allowed_channels: frozenset[str] = frozenset()
    """Channel ids where /imagine works; empty means every channel."""
    allowed_users: frozenset[str] = frozenset()
    allowed_roles: frozenset[str] = frozenset()
    """Discord role ids / Slack user-group ids. With ``allowed_users``: a requester passes
    if listed or holding a listed role; both empty means everyone."""
    admin_users: frozenset[str] = frozenset()
    """Admins in addition to those the platform marks (Manage Messages, workspace admins)."""
    banned_words: tuple[str, ...] = ()
    """Whole words (case-insensitive) refused in prompts."""
    rate_limit_jobs: int = 0
    """Jobs one user may start per ``rate_limit_window`` seconds; 0 turns the limit off."""
    rate_limit_window: float = 3600.0
    _banned: re.Pattern[str] | None = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        words = [w.strip() for w in self.banned_words if w.strip()]
        pattern = None
        if words:
            alternatives = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
            pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)
        object.__setattr__(self, "_banned", pattern)

    def is_admin(self, requester: Requester) -> bool:
        return requester.is_admin or requester.user_id in self.admin_users

    def refusal(self, where: Conversation, requester: Requester) -> str | None:
        """Why this person may not use the bot here, or None."""
        if self.allowed_channels and where.channel not in self.allowed_channels:
            return "I'm not enabled in this channel. Ask an admin to enable me here."
        if (self.allowed_users or self.allowed_roles) and not (
            requester.user_id in self.allowed_users
            or requester.roles & self.allowed_roles
            or self.is_admin(requester)
        ):
            return "You're not on the list of people who can use /imagine. Ask an admin for access."
        return None

    def banned_word_in(self, prompt: str) -> str | None:
        if self._banned is None:
            return None
        match = self._banned.search(prompt)
        return match.group(0) if match else None
