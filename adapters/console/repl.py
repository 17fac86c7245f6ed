"""``imagine-bot console``: each input line is a message in a local channel.

Buttons are commands here (``/vary JOB 2``, ``/upscale JOB 1``, …), so the whole creative
loop can be tried without any chat platform. At a terminal the line has editing and
history (readline) and a visible prompt; piped input is read as it comes."""

from __future__ import annotations

import asyncio
import contextlib
import shlex
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from types import MappingProxyType
from typing import TextIO

from adapters.console.chat import ConsoleChat, console_conversation
from bot.chat import (
    ActionInvocation,
    ActionKind,
    Attachment,
    DialogSubmission,
    Invocation,
    Requester,
)
from bot.service import ImagineBot

PROMPT = "imagine> "
HELP = """\
Commands (each line is a message in #general):
  /imagine <prompt> [--ar W:H] [--size WxH] [--seed N] [--steps N] [--no "..."] \
[--style NAME] [--n 1-4] [--image PATH] [--iw 0-2]
  /animate <prompt> [--seconds 2-8] [--ar W:H] [--seed N]
  /vary JOB [N] [subtle|strong]   /upscale JOB [N]   /remix JOB <new prompt and flags>
  /animate-result JOB [N]   /reroll JOB   /cancel JOB   /delete JOB
  /history   /show JOB
  /settings (or /imagine-settings) [size=WxH steps=N style=NAME backend=NAME | reset]
  /help   /quit"""
BUTTONS = MappingProxyType(
    {
        "/reroll": ActionKind.REROLL,
        "/delete": ActionKind.DELETE,
        "/cancel": ActionKind.CANCEL,
        "/upscale": ActionKind.UPSCALE,
        "/animate-result": ActionKind.ANIMATE,
    }
)
VARY = MappingProxyType({"subtle": ActionKind.VARY_SUBTLE, "strong": ActionKind.VARY_STRONG})


async def stdin_lines(interactive: bool | None = None) -> AsyncIterator[str]:
    """Lines from standard input without blocking the event loop: through readline (line
    editing, history, a prompt) at a terminal, else straight from the pipe or file."""
    if interactive if interactive is not None else sys.stdin.isatty():
        with contextlib.suppress(ImportError):
            import readline  # noqa: F401 - importing it gives input() editing and history
        while True:
            try:
                yield await asyncio.to_thread(input, PROMPT)
            except EOFError:
                return
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


def split_image_flag(text: str) -> tuple[str, Path | None]:
    """``--image PATH`` (console only: the attachment of other platforms) out of a command."""
    try:
        words = shlex.split(text, posix=True)
    except ValueError:
        return text, None
    if "--image" not in words:
        return text, None
    at = words.index("--image")
    if at + 1 >= len(words):
        return text, None
    path = Path(words[at + 1]).expanduser()
    rest = words[:at] + words[at + 2 :]
    return shlex.join(rest), path


class ConsoleSession:
    def __init__(
        self,
        bot: ImagineBot,
        chat: ConsoleChat,
        out: TextIO,
        user: str,
    ) -> None:
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
        rest = rest.strip()
        here = console_conversation()
        if command in ("/quit", "/exit"):
            return False
        if command in ("/imagine", "/animate"):
            prompt, image = split_image_flag(rest)
            attachments = (Attachment(image.resolve().as_uri(), image.name),) if image else ()
            invocation = Invocation(here, self._requester, text=prompt, attachments=attachments)
            if command == "/imagine":
                await self._bot.imagine(invocation)
            else:
                await self._bot.animate(invocation)
        elif command in ("/settings", "/imagine-settings"):
            await self._bot.configure(Invocation(here, self._requester, text=rest))
        elif command in ("/history", "/imagine-history"):
            await self._bot.history(Invocation(here, self._requester))
        elif command in ("/show", "/imagine-show"):
            await self._bot.show(Invocation(here, self._requester, text=rest))
        elif command == "/remix" and rest:
            job_id, _, new_text = rest.partition(" ")
            submission = DialogSubmission(
                here, self._requester, ActionKind.REMIX, job_id, new_text.strip()
            )
            await self._bot.submit_dialog(submission)
        elif command == "/vary" and rest:
            words = rest.split()
            kind = VARY.get(words[-1].lower(), ActionKind.VARY_STRONG)
            numbers = [w for w in words[1:] if w.isdigit()]
            await self._press(kind, words[0], int(numbers[0]) if numbers else 1)
        elif command in BUTTONS and rest:
            words = rest.split()
            number = int(words[1]) if len(words) > 1 and words[1].isdigit() else 1
            await self._press(BUTTONS[command], words[0], number)
        else:
            self._print(HELP)
        return True

    async def _press(self, kind: ActionKind, job_id: str, number: int) -> None:
        await self._bot.act(
            ActionInvocation(
                conversation=console_conversation(),
                requester=self._requester,
                kind=kind,
                job_id=job_id,
                message_id="",
                index=max(number, 1) - 1,
            )
        )

    async def run(self, lines: AsyncIterator[str]) -> None:
        """Read commands until /quit (jobs still running are saved and resume next time)
        or the end of input (then wait for them)."""
        self._print(f"imagine-bot console — /help lists the commands. {HELP.splitlines()[1]}")
        async for line in lines:
            if not await self.handle(line):
                if running := self._bot.pending:
                    self._print(
                        f"{running} job(s) still running: they are saved and resume the next "
                        "time you start imagine-bot console."
                    )
                return
        await self._bot.drain()

    def _print(self, text: str) -> None:
        print(text, file=self._out, flush=True)
