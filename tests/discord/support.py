"""Wiring for Discord tests: the real core + emulator + SQLite, the real adapter and
discord.py client, and the fake Discord they talk to over loopback."""

from __future__ import annotations

import asyncio
import io
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from PIL import Image

from adapters.discord.adapter import DiscordAdapter
from adapters.discord.settings import DiscordSettings
from bot.config import BotConfig
from bot.jobs import Job
from bot.service import ImagineBot
from emulator.superduper import Emulator
from tests.discord.fake import FakeChannel, FakeDiscord, FakeInteraction, FakeMessage
from tests.support.harness import Harness, StoreWrapper, open_harness
from tests.support.superduper import file_ids

JOB_IN_CUSTOM_ID = re.compile(r"imagine:[a-z_]+:(?P<job>[^:]+)(?::[0-9]+)?")


def settings_for(fake: FakeDiscord, *, guild: bool = True) -> DiscordSettings:
    return DiscordSettings(
        token=fake.token,
        guild_id=fake.guild_id if guild else None,
        api_base=fake.api_base,
        gateway_url=fake.gateway_url,
        ready_timeout=10.0,
        guild_ready_timeout=0.01,
        identify_interval=0.0,
    )


@dataclass
class DiscordStack:
    harness: Harness
    adapter: DiscordAdapter
    fake: FakeDiscord

    @property
    def bot(self) -> ImagineBot:
        return self.harness.bot

    async def job_of(self, message: FakeMessage) -> Job:
        """The job behind a result message (its id is in the buttons' custom ids)."""
        match = JOB_IN_CUSTOM_ID.fullmatch(message.custom_ids()[0])
        assert match is not None
        job = await self.harness.store.get_job(match["job"])
        assert job is not None
        return job

    async def results_in(self, thread: FakeChannel | int, count: int = 1) -> list[FakeMessage]:
        """Wait for ``count`` image messages in the thread and for the jobs to settle."""
        await self.fake.until(lambda: len(images_in(self.fake, thread)) >= count)
        await self.bot.drain()
        return images_in(self.fake, thread)


async def started_job(stack: DiscordStack, deadline: float = 10.0) -> Job:
    """Poll the store (with a deadline) until the one job has a service file id and a
    thread."""
    async with asyncio.timeout(deadline):
        while True:
            jobs = await stack.harness.store.unfinished_jobs()
            if jobs and file_ids(jobs[0]) and jobs[0].thread:
                return jobs[0]
            await asyncio.sleep(0.02)


EPHEMERAL = 64
DEFERRED_CHANNEL_MESSAGE = 5


async def private_answer(fake: FakeDiscord, asked: FakeInteraction) -> str:
    """What the user who ran a command sees privately: the deferred ("thinking…")
    response, once the bot gave it its text."""
    await fake.until(lambda: asked.original is not None)
    assert asked.callbacks[0] == {"type": DEFERRED_CHANNEL_MESSAGE, "data": {"flags": EPHEMERAL}}
    assert asked.original_flags == EPHEMERAL and asked.original is not None
    return asked.original


def button(message: FakeMessage, kind: str) -> str:
    """The custom id of the ``kind`` button ("reroll", "upscale", ...) under a message."""
    return next(c for c in message.custom_ids() if c.startswith(f"imagine:{kind}:"))


def buttons_of(message: FakeMessage) -> list[dict[str, Any]]:
    return [b for row in message.components for b in row.get("components", [])]


def labelled(message: FakeMessage, label: str) -> str:
    """The custom id of the button a user sees as ``label`` ("V2", "Remix", ...)."""
    return next(str(b["custom_id"]) for b in buttons_of(message) if b.get("label") == label)


def labels_by_row(message: FakeMessage) -> list[list[str]]:
    return [[str(b.get("label")) for b in row.get("components", [])] for row in message.components]


async def new_thread(
    fake: FakeDiscord, parent: FakeChannel | None = None, *, count: int = 1
) -> FakeChannel:
    """Wait until the bot opened ``count`` threads in ``parent`` (#general by default);
    the last of them."""
    channel = parent or fake.general
    await fake.until(lambda: len(fake.threads_of(channel)) >= count)
    return fake.threads_of(channel)[count - 1]


def images_in(fake: FakeDiscord, channel: FakeChannel | int) -> list[FakeMessage]:
    return [m for m in fake.messages_in(channel) if m.attachments]


def decode(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        copy = image.copy()
        copy.format = image.format
        return copy


@asynccontextmanager
async def discord_stack(
    emulator: Emulator,
    fake: FakeDiscord,
    db_path: Path,
    *,
    guild: bool = True,
    config: BotConfig | None = None,
    wrap_store: StoreWrapper | None = None,
    **settings: Any,
) -> AsyncIterator[DiscordStack]:
    """One bot process: core + adapter connected to ``fake`` (a restart = a second one).
    ``settings`` override ``DiscordSettings`` fields."""
    async with open_harness(
        emulator, db_path, [], config=config, start=False, wrap_store=wrap_store
    ) as harness:
        adapter = DiscordAdapter(harness.bot, replace(settings_for(fake, guild=guild), **settings))
        await adapter.start()
        try:
            await adapter.wait_ready()
            await harness.bot.start()
            yield DiscordStack(harness, adapter, fake)
        finally:
            await harness.bot.aclose()
            await adapter.aclose()
