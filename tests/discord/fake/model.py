"""What the fake Discord stores: users, channels, messages, interactions, requests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TEXT_CHANNEL = 0
DM_CHANNEL = 1
PUBLIC_THREAD = 11

EPHEMERAL = 1 << 6


@dataclass
class FakeUser:
    id: int
    name: str
    bot: bool = False


@dataclass
class FakeGuild:
    id: int
    name: str


@dataclass
class FakeChannel:
    id: int
    type: int
    name: str
    guild_id: int | None
    parent_id: int | None = None
    owner_id: int | None = None
    auto_archive_duration: int | None = None
    recipient_id: int | None = None


@dataclass
class FakeAttachment:
    id: int
    filename: str
    content_type: str | None
    data: bytes = field(repr=False)
    url: str | None = None
    """Where Discord says the file is (``None``: served by the fake itself)."""
    declared_size: int | None = None
    """The size Discord declares (``None``: the real one)."""

    @property
    def size(self) -> int:
        return len(self.data) if self.declared_size is None else self.declared_size


@dataclass
class FakeMessage:
    id: int
    channel_id: int
    author_id: int
    content: str
    attachments: list[FakeAttachment] = field(default_factory=list)
    components: list[dict[str, Any]] = field(default_factory=list)
    nonce: str | None = None
    flags: int = 0
    edits: list[str] = field(default_factory=list)
    """Earlier contents, oldest first."""
    deleted: bool = False

    def custom_ids(self) -> list[str]:
        return [
            str(button["custom_id"])
            for row in self.components
            for button in row.get("components", [])
            if "custom_id" in button
        ]


@dataclass
class FakeInteraction:
    """One interaction we dispatched and everything the bot answered to it."""

    id: int
    token: str
    type: int
    channel_id: int
    user_id: int
    message_id: int | None = None
    """The message whose button was pressed (component and modal submit interactions)."""
    callbacks: list[dict[str, Any]] = field(default_factory=list)
    """Bodies of ``POST /interactions/{id}/{token}/callback`` in order (``type``, ``data``)."""
    original: str | None = None
    """Content of the original response (after the last edit)."""
    original_flags: int = 0
    followups: list[dict[str, Any]] = field(default_factory=list)
    guild_id: int | None = None
    shard: int | None = None
    """The shard of the gateway session it was delivered to (``None``: unsharded)."""

    @property
    def callback_types(self) -> list[int]:
        return [int(body["type"]) for body in self.callbacks]

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal the bot answered with (response type 9), if it did."""
        return next((b.get("data") or {} for b in self.callbacks if b.get("type") == 9), None)

    def private_texts(self) -> list[str]:
        """Everything the user saw privately: callback messages, the original, followups."""
        texts = [
            str(body.get("data", {}).get("content"))
            for body in self.callbacks
            if body.get("data", {}).get("content")
        ]
        if self.original:
            texts.append(self.original)
        texts.extend(str(f.get("content")) for f in self.followups if f.get("content"))
        return texts


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    """Path below the API base, e.g. ``/channels/1/messages``."""
    status: int
    at: float
    """``time.monotonic()`` when the request arrived."""


@dataclass
class RateLimitRule:
    method: str
    path_pattern: str
    retry_after: float
    remaining: int
    """How many more matching requests get a 429."""
