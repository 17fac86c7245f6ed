"""``imagine-bot console``: each input line is a message in a local channel."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator
from types import MappingProxyType
from typing import TextIO

from adapters.console.chat import ConsoleChat, console_conversation
from bot.chat import ActionInvocation, ActionKind, Invocation, Requester
from bot.service import ImagineBot

HELP = (
    "Type /imagine <prompt> [--ar W:H] [--size WxH] [--seed N] [--steps N] "
    '[--no "negative"] [--style NAME] [--n 1-4]; /reroll JOB, /delete JOB, /cancel JOB; '
    "/settings [size=WxH steps=N style=NAME | reset]; /quit."
)
BUTTONS = MappingProxyType(
    {
        "/reroll": ActionKind.REROLL,
        "/delete": ActionKind.DELETE,
        "/cancel": ActionKind.CANCEL,
    }
)


async def stdin_lines() -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop."""
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    try:
        await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    except (OSError, ValueError):  # a regular file: no pipe semantics, read it in a thread
        while line := await asyncio.to_thread(sys.stdin.readline):
            yield line
        return
    while line_bytes := await reader.readline():
        yield line_bytes.decode(errors="replace")


class ConsoleSession:
    def __init__(self, bot: ImagineBot, chat: ConsoleChat, out: TextIO, user: str) -> None:
        self._bot = bot
        self._chat = chat
        self._out = out
        self._requester = Requester(user_id=user, display_name=user, is_admin=True)

    async def handle(self, line: str) -> bool:
        """Handle one line; False means the user asked to quit."""
        text = line.strip()
        if not text:
            return True
        command, _, rest = text.partition(" ")
        command = command.lower()
        conversation = console_conversation()
        if command in ("/quit", "/exit"):
            return False
        if command == "/imagine":
            await self._bot.imagine(
                Invocation(conversation=conversation, requester=self._requester, text=rest)
            )
        elif command == "/settings":
            await self._bot.configure(
                Invocation(conversation=conversation, requester=self._requester, text=rest)
            )
        elif command in BUTTONS and rest.strip():
            kind = BUTTONS[command]
            job_id = rest.strip()
            await self._bot.act(
                ActionInvocation(
                    conversation=conversation,
                    requester=self._requester,
                    kind=kind,
                    job_id=job_id,
                    message_id=f"image:{job_id}-0.png",
                )
            )
        else:
            print(HELP, file=self._out, flush=True)
        return True

    async def run(self, lines: AsyncIterator[str]) -> None:
        """Read commands until EOF or /quit, then wait for the jobs still running."""
        print(f"imagine-bot console — {HELP}", file=self._out, flush=True)
        async for line in lines:
            if not await self.handle(line):
                break
        await self._bot.drain()
