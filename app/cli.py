"""``imagine-bot``: demo, console, emulator, run, health."""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from pathlib import Path
from typing import Protocol, TextIO

from app.config import PLATFORM_HELP, ConfigError, Settings, load_settings
from app.logs import configure_logging
from app.runtime import open_runtime
from bot.backend.superduper import SuperDuperSettings
from bot.chat import ImagineCore, Invocation, Requester
from bot.jobs import JobState

HEARTBEAT_ENV = "IMAGINE_HEARTBEAT_PATH"
HEARTBEAT_DEFAULT = Path(tempfile.gettempdir()) / "imagine-bot.heartbeat"
HEARTBEAT_EVERY = 30.0
HEARTBEAT_STALE = 120.0


def service_settings(settings: Settings) -> SuperDuperSettings:
    assert settings.superduper_url is not None and settings.superduper_token is not None
    return SuperDuperSettings(
        base_url=settings.superduper_url,
        token=settings.superduper_token,
        ws_url=settings.superduper_ws_url,
    )


def emulator_service(base_url: str, token: str) -> SuperDuperSettings:
    """Client timings matched to the emulator's 2–4 s generations."""
    return SuperDuperSettings(
        base_url=base_url, token=token, expected_generation_time=1.5, poll_interval_min=0.5
    )


async def demo(prompt: str, settings: Settings, out: TextIO) -> int:
    from adapters.console import ConsoleChat
    from adapters.console.chat import console_conversation
    from emulator.superduper import Emulator, EmulatorConfig

    async with AsyncExitStack() as stack:
        db_path = settings.db_path
        if settings.superduper_url is None:
            emulator = await stack.enter_async_context(
                Emulator(EmulatorConfig(token=secrets.token_urlsafe(16)))
            )
            print(f"Started the built-in SuperDuper emulator on {emulator.base_url}", file=out)
            service = emulator_service(emulator.base_url, emulator.config.token)
            # A fresh emulator knows no projects: keep its channel map in a throwaway database.
            db_path = Path(stack.enter_context(tempfile.TemporaryDirectory())) / "demo.db"
        else:
            service = service_settings(settings)
        runtime = await stack.enter_async_context(open_runtime(service, db_path, settings.bot))
        chat = ConsoleChat(out, settings.output_dir)
        runtime.bot.add_chat(chat)
        await runtime.bot.start()
        print(f"> /imagine {prompt}", file=out, flush=True)
        job_id = await runtime.bot.imagine(
            Invocation(console_conversation(), Requester("you", "you"), text=prompt)
        )
        if job_id is None:
            return 2  # the reason was printed as the bot's private reply
        job = await runtime.bot.wait_for(job_id)
        if job is not None and job.state is JobState.POSTED:
            for path in chat.saved_paths:
                print(f"Image saved: {path.resolve()}", file=out, flush=True)
            return 0
        reason = job.error if job is not None else "the job disappeared"
        state = job.state.value if job is not None else "lost"
        print(f"imagine-bot demo: the job ended {state}: {reason}", file=sys.stderr)
        return 1
    return 1  # pragma: no cover - unreachable, keeps mypy's return analysis happy


async def console(settings: Settings, out: TextIO, user: str) -> int:
    from adapters.console import ConsoleChat, ConsoleSession
    from adapters.console.repl import stdin_lines

    if settings.superduper_url is None:
        print(
            "imagine-bot console needs SUPERDUPER_URL and SUPERDUPER_TOKEN "
            "(for a local service: imagine-bot emulator).",
            file=sys.stderr,
        )
        return 2
    async with open_runtime(service_settings(settings), settings.db_path, settings.bot) as rt:
        chat = ConsoleChat(out, settings.output_dir)
        rt.bot.add_chat(chat)
        if resumed := await rt.bot.start():
            print(f"(resumed {resumed} unfinished job(s))", file=out, flush=True)
        await ConsoleSession(rt.bot, chat, out, user).run(stdin_lines())
    return 0


async def run(settings: Settings) -> int:
    if settings.discord is None and settings.slack is None:
        print(PLATFORM_HELP, file=sys.stderr)
        return 2
    if settings.superduper_url is None:
        print("imagine-bot run needs SUPERDUPER_URL and SUPERDUPER_TOKEN.", file=sys.stderr)
        return 2
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    heartbeat = Path(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_DEFAULT))
    async with AsyncExitStack() as stack:
        rt = await stack.enter_async_context(
            open_runtime(service_settings(settings), settings.db_path, settings.bot)
        )
        await rt.bot.start()  # resume first: resumed jobs wait for their ports
        try:
            for adapter in platform_adapters(rt.bot, settings):
                await adapter.start()
                # Closed after the bot drained (callbacks run last-in first-out).
                stack.push_async_callback(adapter.aclose)
        except Exception as exc:
            if (refusal := startup_refusal(exc)) is None:
                raise
            print(f"imagine-bot: {refusal}", file=sys.stderr)
            return 2
        stack.push_async_callback(rt.bot.aclose)  # drain before the adapters close
        while not stop.is_set():
            await asyncio.to_thread(heartbeat.write_text, str(time.time()))
            with suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), HEARTBEAT_EVERY)
    return 0


class PlatformAdapter(Protocol):
    async def start(self) -> None: ...

    async def aclose(self) -> None: ...


def platform_adapters(bot: ImagineCore, settings: Settings) -> list[PlatformAdapter]:
    """The configured platforms' adapters (imported only when configured)."""
    adapters: list[PlatformAdapter] = []
    if settings.discord is not None:
        from adapters.discord import DiscordAdapter, DiscordSettings

        discord_settings = DiscordSettings(
            token=settings.discord.token,
            guild_id=settings.discord.guild_id,
            api_base=settings.discord.api_base,
            gateway_url=settings.discord.gateway_url,
            styles=settings.bot.defaults.styles,
        )
        adapters.append(DiscordAdapter(bot, discord_settings))
    if settings.slack is not None:
        from adapters.slack import SlackAdapter, SlackSettings

        api_base = {"api_base": settings.slack.api_base} if settings.slack.api_base else {}
        slack_settings = SlackSettings(
            bot_token=settings.slack.bot_token,
            app_token=settings.slack.app_token,
            signing_secret=settings.slack.signing_secret,
            http_port=settings.slack.http_port,
            **api_base,
        )
        adapters.append(SlackAdapter(bot, slack_settings))
    return adapters


def startup_refusal(exc: Exception) -> str | None:
    """A platform's "bad credentials" error at start-up, as a message naming the setting."""
    slack = sys.modules.get("adapters.slack.adapter")
    if slack is not None and isinstance(exc, slack.SlackStartupError):
        return str(exc)  # names SLACK_BOT_TOKEN / SLACK_APP_TOKEN, never their values
    discord = sys.modules.get("discord")
    if discord is not None and isinstance(exc, discord.LoginFailure):
        return (
            "Discord refused DISCORD_TOKEN: use the bot token from the Developer Portal "
            "(Bot → Reset Token)."
        )
    return None


def health() -> int:
    """Docker HEALTHCHECK: the running bot refreshes its heartbeat file."""
    heartbeat = Path(os.environ.get(HEARTBEAT_ENV, HEARTBEAT_DEFAULT))
    try:
        age = time.time() - heartbeat.stat().st_mtime
    except FileNotFoundError:
        print("unhealthy: no heartbeat yet", file=sys.stderr)
        return 1
    if age > HEARTBEAT_STALE:
        print(f"unhealthy: last heartbeat {age:.0f} s ago", file=sys.stderr)
        return 1
    print(f"healthy (heartbeat {age:.0f} s ago)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    from emulator.superduper.cli import add_emulator_arguments

    parser = argparse.ArgumentParser(
        prog="imagine-bot", description="Team image generation for Discord and Slack."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser(
        "demo", help="run one /imagine end to end on the built-in emulator (no tokens needed)"
    )
    demo_cmd.add_argument("prompt", help='e.g. "a red fox in the snow --ar 3:2"')
    console_cmd = commands.add_parser("console", help="chat with the bot in the terminal")
    console_cmd.add_argument("--user", default=os.environ.get("USER", "you"))
    emulator_cmd = commands.add_parser("emulator", help="serve the SuperDuper API emulator")
    add_emulator_arguments(emulator_cmd)
    commands.add_parser("run", help="connect to the configured Discord / Slack workspaces")
    commands.add_parser("health", help="exit 0 if a running bot is healthy (Docker HEALTHCHECK)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "health":
        return health()
    if args.command == "emulator":
        from emulator.superduper.cli import config_from_args, serve

        with suppress(KeyboardInterrupt):
            asyncio.run(serve(config_from_args(args), args.host, args.port))
        return 0
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"imagine-bot: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    interactive = args.command in ("demo", "console")
    level = (
        settings.log_level if "IMAGINE_LOG_LEVEL" in os.environ or not interactive else "WARNING"
    )
    configure_logging(
        level,
        [
            settings.superduper_token,
            *([settings.discord.token] if settings.discord else []),
            *(
                [settings.slack.bot_token, settings.slack.app_token, settings.slack.signing_secret]
                if settings.slack
                else []
            ),
        ],
    )
    try:
        if args.command == "demo":
            return asyncio.run(demo(args.prompt, settings, sys.stdout))
        if args.command == "console":
            return asyncio.run(console(settings, sys.stdout, args.user))
        return asyncio.run(run(settings))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
