"""A ``RecordingChat`` that also counts every delivery attempt, failed ones included."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.chat import Action, Conversation, DeliveryError, Upload
from tests.support.recording_chat import RecordingChat


@dataclass
class CountingChat(RecordingChat):
    """``post_attempts[dedupe_key]`` counts calls to ``post_media`` (a retry storm shows up
    here); ``refuse_posts`` makes every post fail with that error, for as long as it is set."""

    post_attempts: Counter[str] = field(default_factory=Counter)
    refuse_posts: DeliveryError | None = None

    async def post_media(
        self,
        where: Conversation,
        upload: Upload,
        caption: str,
        actions: Sequence[Action],
        dedupe_key: str,
    ) -> str:
        self.post_attempts[dedupe_key] += 1
        if self.refuse_posts is not None:
            raise self.refuse_posts
        return await super().post_media(where, upload, caption, actions, dedupe_key)
