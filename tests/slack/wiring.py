"""The real core (emulator, client, SQLite) with the Slack adapter against the fake Slack."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, TypeVar

import aiohttp

from adapters.slack.adapter import DIALOG_LOOKUP_BUDGET, SlackAdapter
from adapters.slack.settings import SlackSettings
from bot.chat import ImagineCore
from bot.config import BotConfig
from bot.jobs import Job
from bot.service import ImagineBot
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import (
    APP_TOKEN,
    BOT_TOKEN,
    BOT_USER,
    FakeSlack,
    Message,
    OpenView,
)
from tests.slack.fakes.slack_side import (
    SIGNING_SECRET,
    Ack,
    HttpSlackSide,
    SlackSide,
    SocketSlackSide,
    button_payload,
    slash_payload,
    view_submission_payload,
)
from tests.support.harness import Harness, StoreWrapper, open_harness

Mode = Literal["http", "socket"]
T = TypeVar("T")


class ManualClock:
    """Time that moves only when a test says so (cache TTLs, event-id memory)."""

    def __init__(self) -> None:
        self.t = 1_700_000_000.0

    def now(self) -> float:
        return self.t

    def monotonic(self) -> float:
        return self.t

    def advance(self, seconds: float) -> None:
        self.t += seconds


@dataclass
class SlackBot:
    harness: Harness
    adapter: SlackAdapter
    side: SlackSide
    fake: FakeSlack
    _names: Iterator[int] = field(default_factory=itertools.count)

    def results(self, channel: str, thread: str) -> list[Message]:
        """Button messages (one per posted result) in the thread."""
        return [
            m
            for m in self.fake.thread(channel, thread)
            if (m.metadata or {}).get("event_type") == "imagine_result"
        ]

    def images(self, channel: str, thread: str) -> list[Message]:
        return [m for m in self.fake.thread(channel, thread) if m.files]

    async def wait_status(self, channel: str = "C1") -> Message:
        """The job's status message at the top of the channel (posted right after the ack)."""

        def statuses() -> list[Message]:
            return [
                m
                for m in self.fake.messages
                if m.channel == channel and m.thread_ts is None and m.user == BOT_USER
            ]

        await self.fake.wait_for(lambda: bool(statuses()))
        [status] = statuses()
        return status

    async def imagined(
        self, text: str, *, user: str = "U1", channel: str = "C1"
    ) -> tuple[Message, Message]:
        """``/imagine text`` run to its posted result: its status message (at the top of
        the channel) and the result's button message (in the status's thread)."""
        before = len(self.fake.messages)

        def status() -> Message | None:
            return next(
                (
                    m
                    for m in self.fake.messages[before:]
                    if m.channel == channel and m.thread_ts is None and m.user == BOT_USER
                ),
                None,
            )

        ack = await self.side.slash(slash_payload(self.fake, text, user=user, channel=channel))
        assert (ack.status, ack.text) == (200, "")
        await self.fake.wait_for(lambda: status() is not None)
        posted = status()
        assert posted is not None
        [result] = await self.wait_results(channel, posted.ts, 1)
        await self.harness.bot.drain()
        return posted, result

    async def wait_results(self, channel: str, thread: str, count: int) -> list[Message]:
        await self.fake.wait_for(lambda: len(self.results(channel, thread)) >= count)
        return self.results(channel, thread)

    async def ask(
        self, text: str, *, user: str = "U1", command: str = "/imagine", channel: str = "C1"
    ) -> str:
        """Run a slash command that is answered privately: the (empty) ack comes first,
        then the answer through the command's ``response_url``; return that answer."""
        name = f"{command.strip('/')}-{user}-{next(self._names)}"
        payload = slash_payload(
            self.fake, text, user=user, channel=channel, name=name, command=command
        )
        ack = await self.side.slash(payload)
        assert (ack.status, ack.text) == (200, "")
        answer = await self.fake.response(name)
        assert answer["response_type"] == "ephemeral"
        return str(answer["text"])

    def press_payload(
        self, message: Message, kind: str | None = None, *, label: str | None = None, user: str
    ) -> dict[str, Any]:
        """What Slack sends when ``user`` clicks the button of ``kind`` (or with ``label``)."""
        [button] = [
            element
            for block in message.blocks or []
            for element in block.get("elements", [])
            if (label is None or element["text"]["text"] == label)
            and (kind is None or element["action_id"].startswith(f"imagine:{kind}:"))
        ]
        return button_payload(
            self.fake,
            message_ts=message.ts,
            action_id=button["action_id"],
            value=button.get("value", ""),
            user=user,
            channel=message.channel,
        )

    async def press(
        self, message: Message, kind: str | None = None, *, label: str | None = None, user: str
    ) -> None:
        ack = await self.side.action(self.press_payload(message, kind, label=label, user=user))
        assert (ack.status, ack.text) == (200, "")

    async def wait_view(self, count: int = 1) -> OpenView:
        """The ``count``-th modal Slack opened."""
        await self.fake.wait_for(lambda: len(self.fake.views) >= count)
        return self.fake.views[count - 1]

    async def submit(self, view: OpenView, text: str) -> Ack:
        """Its user submits the modal; the ack must close it (an empty answer)."""
        ack = await self.side.action(view_submission_payload(self.fake, view, text))
        assert (ack.status, ack.raw) == (200, "")
        return ack

    async def job_of(self, result: Message) -> Job:
        """The job whose buttons ``result`` carries."""
        [job_id] = {a.split(":")[2] for a in result.action_ids}
        job = await self.harness.store.get_job(job_id)
        assert job is not None
        return job


async def eventually(check: Callable[[], Awaitable[T | None]], timeout: float = 10.0) -> T:
    """Poll ``check`` until it returns a value (for state that has no change signal)."""
    async with asyncio.timeout(timeout):
        for delay in itertools.chain([0.0], itertools.repeat(0.02)):
            await asyncio.sleep(delay)
            if (value := await check()) is not None:
                return value
    raise AssertionError("unreachable")


@asynccontextmanager
async def slack_bot(
    emulator: Emulator,
    fake: FakeSlack,
    db_path: Path,
    *,
    mode: Mode = "http",
    config: BotConfig | None = None,
    clock: ManualClock | None = None,
    core: Callable[[ImagineBot], ImagineCore] | None = None,
    wrap_store: StoreWrapper | None = None,
    dialog_lookup_budget: float = DIALOG_LOOKUP_BUDGET,
) -> AsyncIterator[SlackBot]:
    """The bot on Slack; ``core`` wraps the real core (e.g. to hold it back), ``clock``
    drives the adapter's caches, ``wrap_store`` puts a test double in front of the store."""
    settings = SlackSettings(
        bot_token=BOT_TOKEN,
        app_token=APP_TOKEN if mode == "socket" else None,
        signing_secret=SIGNING_SECRET if mode == "http" else None,
        http_port=0,
        api_base=fake.api_base,
    )
    async with (
        open_harness(
            emulator, db_path, [], config=config, start=False, wrap_store=wrap_store
        ) as harness,
        aiohttp.ClientSession() as session,
    ):
        adapter = SlackAdapter(
            harness.bot if core is None else core(harness.bot),
            settings,
            host="127.0.0.1",
            clock=clock,
            dialog_lookup_budget=dialog_lookup_budget,
        )
        await adapter.start()
        try:
            await harness.bot.start()
            side: SlackSide
            if mode == "socket":
                await fake.socket_connected()
                side = SocketSlackSide(fake)
            else:
                assert adapter.http_port is not None
                side = HttpSlackSide(session, adapter.http_port)
            yield SlackBot(harness, adapter, side, fake)
        finally:
            await adapter.aclose()
