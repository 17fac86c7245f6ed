"""``imagine-bot``: demo, console, emulator, run, health.

Expected failures (bad settings, a busy port, an unreachable platform) end with one line
naming what to fix and exit code 2, never a traceback."""

from __future__ import annotations

import argparse
import asyncio
import errno
import json
import os
import secrets
import signal
import sys
import tempfile
import urllib.error
import urllib.request
from collections.abc import Sequence
from contextlib import AsyncExitStack, suppress
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Protocol, TextIO

from app.backends import BackendSpec, comfyui_spec, configured_backends, superduper_spec
from app.config import BACKENDS, PLATFORM_HELP, ConfigError, Settings, load_settings
from app.health import HealthCheck, HealthServer, PortInUse, backend_check, store_check
from app.logs import configure_logging
from app.metrics import Metrics
from app.runtime import log_backend_status, open_runtime
from app.stores import StoreSettings
from bot.backend.comfyui import ComfyUISettings
from bot.backend.superduper import SuperDuperSettings
from bot.chat import ImagineCore, Invocation, Requester
from bot.clock import SystemClock
from bot.jobs import JobState
from storage import StorageError

COMMAND_FLAGS = (
    "/imagine flags: --ar W:H (aspect ratio, e.g. 3:2), --size WxH, --seed N, --steps N, "
    '--no "what to leave out", --style NAME, --n 1-4 (how many images).'
)


class UserFacingError(Exception):
    """An expected failure: ``str(exc)`` is the one line the user sees (exit code 2)."""


def emulator_service(base_url: str, token: str) -> SuperDuperSettings:
    """Client timings matched to the emulator's 2–4 s generations."""
    return SuperDuperSettings(
        base_url=base_url, token=token, expected_generation_time=1.5, poll_interval_min=0.5
    )


async def demo(
    prompt: str,
    settings: Settings,
    out: TextIO,
    *,
    animate: bool = False,
    backend: str | None = None,
) -> int:
    from adapters.console.chat import ConsoleChat, console_conversation

    async with AsyncExitStack() as stack:
        store = settings.store
        wanted = backend or settings.backend
        specs = [s for s in configured_backends(settings) if s.name == wanted]
        if not specs:
            specs = [await _built_in_emulator(stack, wanted, out)]
            # A fresh emulator knows no projects: keep its channel map in a throwaway database.
            scratch = Path(stack.enter_context(tempfile.TemporaryDirectory()))
            store = StoreSettings(db_path=scratch / "demo.db")
        runtime = await stack.enter_async_context(open_runtime(specs, store, settings.bot))
        chat = ConsoleChat(out, settings.output_dir)
        runtime.bot.add_chat(chat)
        await runtime.bot.start()
        command = "/animate" if animate else "/imagine"
        print(f"> {command} {prompt}", file=out, flush=True)
        invocation = Invocation(console_conversation(), Requester("you", "you"), text=prompt)
        if animate:
            job_id = await runtime.bot.animate(invocation)
        else:
            job_id = await runtime.bot.imagine(invocation)
        if job_id is None:
            return 2  # the reason was printed as the bot's private reply
        job = await runtime.bot.wait_for(job_id)
        if job is not None and job.state is JobState.POSTED:
            for path in chat.saved_paths:
                kind = "Clip" if animate else "Image"
                print(f"{kind} saved: {path.resolve()}", file=out, flush=True)
            return 0
        reason = job.error if job is not None else "the job disappeared"
        state = job.state.value if job is not None else "lost"
        print(f"imagine-bot demo: the job ended {state}: {reason}", file=sys.stderr)
        return 1
    return 1  # pragma: no cover - unreachable, keeps mypy's return analysis happy


async def _built_in_emulator(stack: AsyncExitStack, kind: str, out: TextIO) -> BackendSpec:
    """Start the emulator of ``kind`` in-process; the backend spec that uses it."""
    if kind == "comfyui":
        from emulator.comfyui import ComfyEmulator, ComfyEmulatorConfig

        comfy = await stack.enter_async_context(ComfyEmulator(ComfyEmulatorConfig(step_time=0.1)))
        print(f"Started the built-in ComfyUI emulator on {comfy.base_url}", file=out)
        service = ComfyUISettings(
            urls=(comfy.base_url,),
            checkpoint=ComfyEmulatorConfig().checkpoints[0],
            expected_generation_time=1.0,
            poll_interval_min=0.5,
        )
        return comfyui_spec(service)
    from emulator.superduper import Emulator, EmulatorConfig

    emulator = await stack.enter_async_context(
        Emulator(EmulatorConfig(token=secrets.token_urlsafe(16)))
    )
    print(f"Started the built-in SuperDuper emulator on {emulator.base_url}", file=out)
    return superduper_spec(emulator_service(emulator.base_url, emulator.config.token))


async def console(settings: Settings, out: TextIO, user: str) -> int:
    from adapters.console.chat import ConsoleChat
    from adapters.console.repl import ConsoleSession, stdin_lines

    specs = configured_backends(settings)
    if not specs:
        raise UserFacingError(
            "imagine-bot console needs SUPERDUPER_URL and SUPERDUPER_TOKEN "
            "(for a local service: imagine-bot emulator)."
        )
    async with open_runtime(specs, settings.store, settings.bot) as rt:
        chat = ConsoleChat(out, settings.output_dir)
        rt.bot.add_chat(chat)
        if resumed := await rt.bot.start():
            print(f"(resumed {resumed} unfinished job(s))", file=out, flush=True)
        await ConsoleSession(rt.bot, chat, out, user).run(stdin_lines())
    return 0


class PlatformAdapter(Protocol):
    @property
    def platform(self) -> str: ...

    async def start(self) -> None: ...

    async def aclose(self) -> None: ...

    async def health(self) -> tuple[bool, str]: ...

    async def wait_closed(self) -> None: ...


async def run(settings: Settings) -> int:
    if settings.discord is None and settings.slack is None:
        raise UserFacingError(PLATFORM_HELP)
    specs = configured_backends(settings)
    if not specs:
        raise UserFacingError("imagine-bot run needs SUPERDUPER_URL and SUPERDUPER_TOKEN.")
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    clock = SystemClock()
    metrics = Metrics()
    async with AsyncExitStack() as stack:
        rt = await stack.enter_async_context(
            open_runtime(specs, settings.store, settings.bot, telemetry=metrics)
        )
        leases = (lambda: rt.bot.leases_held) if rt.store.shared else None
        metrics.watch(rt.backends, lambda: rt.bot.load, leases)
        await log_backend_status(rt.backends)
        await rt.bot.start()  # resume first: resumed jobs wait for their platform's port
        adapters = platform_adapters(rt.bot, settings)
        for adapter in adapters:
            try:
                await adapter.start()
            except Exception as exc:
                raise UserFacingError(startup_refusal(exc, settings) or str(exc)) from exc
            stack.push_async_callback(adapter.aclose)  # closed after the bot drained
        health = HealthServer(
            live=[],  # answering is alive: a dead platform connection ends the process
            ready=[
                store_check(rt.store, clock),
                *(platform_connected(a) for a in adapters),
                *(backend_check(b, clock) for b in rt.backends.values()),
            ],
            host="0.0.0.0",  # noqa: S104 - orchestrators probe from outside the container
            port=settings.health_port,
            metrics=metrics.render,
        )
        try:
            await health.start()
        except PortInUse as exc:
            raise UserFacingError(str(exc)) from None
        stack.push_async_callback(health.aclose)
        stack.push_async_callback(rt.bot.aclose)  # drain before the adapters close
        return await serve_until_stopped(stop, adapters)
    return 0  # pragma: no cover


async def serve_until_stopped(stop: asyncio.Event, adapters: Sequence[PlatformAdapter]) -> int:
    """0 after SIGTERM/SIGINT; 1 when a platform connection died for good (so that the
    supervisor restarts the process instead of leaving a silent zombie)."""
    stopping: asyncio.Task[object] = asyncio.create_task(_wait(stop), name="stop-signal")
    watching: dict[asyncio.Task[object], PlatformAdapter] = {
        asyncio.create_task(_closed(a), name=f"{a.platform}-alive"): a for a in adapters
    }
    try:
        done, _ = await asyncio.wait({stopping, *watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (stopping, *watching):
            task.cancel()
    if stopping in done:
        return 0
    for task in done:
        name = watching[task].platform if task in watching else "?"
        problem = task.exception() if not task.cancelled() else None
        print(
            f"imagine-bot: the {name} connection ended"
            + (f" ({type(problem).__name__}: {problem})" if problem else "")
            + "; exiting so that the supervisor restarts the bot",
            file=sys.stderr,
        )
    return 1


async def _wait(event: asyncio.Event) -> object:
    return await event.wait()


async def _closed(adapter: PlatformAdapter) -> object:
    await adapter.wait_closed()
    return None


def platform_connected(adapter: PlatformAdapter) -> HealthCheck:
    return HealthCheck(adapter.platform, adapter.health)


def platform_adapters(bot: ImagineCore, settings: Settings) -> list[PlatformAdapter]:
    """The configured platforms' adapters (their libraries imported only when configured)."""
    adapters: list[PlatformAdapter] = []
    if settings.discord is not None:
        from adapters.discord.adapter import DiscordAdapter

        adapters.append(DiscordAdapter(bot, settings.discord))
    if settings.slack is not None:
        from adapters.slack.adapter import SlackAdapter

        adapters.append(SlackAdapter(bot, settings.slack))
    return adapters


def startup_refusal(exc: BaseException, settings: Settings) -> str | None:
    """A platform's expected start-up failure, as one line naming the setting to fix."""
    slack = sys.modules.get("adapters.slack.adapter")
    if slack is not None and isinstance(exc, slack.SlackStartupError):
        return str(exc)  # names SLACK_BOT_TOKEN / SLACK_APP_TOKEN / SLACK_HTTP_PORT
    discord = sys.modules.get("discord")
    if discord is not None and isinstance(exc, discord.LoginFailure):
        return (
            "Discord refused DISCORD_TOKEN: use the bot token from the Developer Portal "
            "(Bot → Reset Token)."
        )
    aiohttp = sys.modules.get("aiohttp")
    if aiohttp is not None and isinstance(exc, aiohttp.ClientConnectionError | OSError):
        where = settings.env.discord_api_base or "discord.com"
        return (
            f"Discord is unreachable at {where} ({type(exc).__name__}); check the network"
            + (" or DISCORD_API_BASE" if settings.env.discord_api_base else "")
            + "."
        )
    return None


def health(port: int) -> int:
    """Docker HEALTHCHECK: ask the running bot's ``/readyz``."""
    url = f"http://127.0.0.1:{port}/readyz"
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.loads(response.read())
    except urllib.error.HTTPError as exc:
        body = json.loads(exc.read() or b"{}")
    except (OSError, ValueError) as exc:
        print(
            f"unhealthy: no imagine-bot answers on port {port} (IMAGINE_HEALTH_PORT): "
            f"{getattr(exc, 'reason', exc)}",
            file=sys.stderr,
        )
        return 1
    checks = body.get("checks", []) if isinstance(body, dict) else []
    for check in checks:
        mark = "ok " if check.get("ok") else "BAD"
        print(f"{mark} {check.get('name')}: {check.get('detail')}")
    ok = bool(isinstance(body, dict) and body.get("ok"))
    print("healthy" if ok else "unhealthy", file=sys.stdout if ok else sys.stderr)
    return 0 if ok else 1


def package_version() -> str:
    try:
        return version("imagine-bot")
    except PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        return "unknown"


EMULATORS = ("superduper", "comfyui")


def emulator_kind(argv: Sequence[str]) -> str:
    """``--kind`` of ``imagine-bot emulator`` (its other options depend on it)."""
    pre = argparse.ArgumentParser(add_help=False)
    pre.add_argument("--kind", choices=EMULATORS, default="superduper")
    known, _ = pre.parse_known_args(list(argv)[1:])
    return str(known.kind)


def build_parser(emulator: str = "superduper") -> argparse.ArgumentParser:
    from emulator.comfyui.cli import add_arguments as add_comfyui_arguments
    from emulator.superduper.cli import add_emulator_arguments

    parser = argparse.ArgumentParser(
        prog="imagine-bot",
        description="Team image generation for Discord and Slack.",
        epilog='Start here: imagine-bot demo "a red fox in the snow" (no tokens needed).',
    )
    parser.add_argument("--version", action="version", version=f"imagine-bot {package_version()}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", help="what to do")
    demo_cmd = commands.add_parser(
        "demo",
        help="run one /imagine end to end on the built-in emulator (no tokens needed)",
        description="Run one /imagine end to end: the built-in emulator (unless "
        "SUPERDUPER_URL is set), the real bot and a console chat; the image is saved "
        "under IMAGINE_OUTPUT_DIR.",
        epilog=COMMAND_FLAGS,
    )
    demo_cmd.add_argument(
        "prompt", help='what to draw, with any /imagine flags, e.g. "a red fox --ar 3:2"'
    )
    demo_cmd.add_argument(
        "--backend",
        choices=BACKENDS,
        default=None,
        help="which image service: the configured one, or else its built-in emulator "
        "(default: IMAGINE_BACKEND, superduper when unset)",
    )
    demo_cmd.add_argument(
        "--animate",
        action="store_true",
        help="make a short video instead (/animate; --seconds 2-8 in the prompt)",
    )
    console_cmd = commands.add_parser(
        "console",
        help="chat with the bot in the terminal",
        description="A local channel in the terminal; each line is a message.",
        epilog=COMMAND_FLAGS,
    )
    console_cmd.add_argument(
        "--user",
        default=os.environ.get("USER", "you"),
        help="your name in the console channel (default: $USER)",
    )
    emulator_cmd = commands.add_parser(
        "emulator",
        help="serve an image service emulator (SuperDuper API or ComfyUI)",
        description=f"Serve the {'ComfyUI' if emulator == 'comfyui' else 'SuperDuper API'} "
        "emulator (HTTP + WebSocket) on loopback; --kind picks which (its options follow).",
    )
    emulator_cmd.add_argument(
        "--kind", choices=EMULATORS, default="superduper", help="which service to emulate"
    )
    if emulator == "comfyui":
        add_comfyui_arguments(emulator_cmd)
    else:
        add_emulator_arguments(emulator_cmd)
    commands.add_parser(
        "run",
        help="connect to the configured Discord / Slack workspaces",
        description="Serve the configured platforms until SIGTERM (settings from the "
        "environment and .env; see the README).",
    )
    commands.add_parser(
        "health",
        help="exit 0 if the running bot is healthy (asks its /readyz)",
        description="Ask the running bot's /readyz on 127.0.0.1:IMAGINE_HEALTH_PORT.",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    words = list(sys.argv[1:] if argv is None else argv)
    kind = emulator_kind(words) if words[:1] == ["emulator"] else "superduper"
    parser = build_parser(kind)
    args = parser.parse_args(words)
    if args.command is None:
        parser.print_help()
        return 0
    if args.command == "emulator":
        return _emulator(args)
    try:
        settings = load_settings(os.environ)
    except ConfigError as exc:
        print(f"imagine-bot: invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if args.command == "health":
        return health(settings.health_port)
    interactive = args.command in ("demo", "console")
    level = (
        settings.log_level if "IMAGINE_LOG_LEVEL" in os.environ or not interactive else "WARNING"
    )
    configure_logging(level, settings.secrets(), settings.env.imagine_log_format)
    try:
        if args.command == "demo":
            return asyncio.run(
                demo(args.prompt, settings, sys.stdout, animate=args.animate, backend=args.backend)
            )
        if args.command == "console":
            return asyncio.run(console(settings, sys.stdout, args.user))
        return asyncio.run(run(settings))
    except (UserFacingError, StorageError) as exc:  # a store that cannot be opened, too
        print(f"imagine-bot: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


def _emulator(args: argparse.Namespace) -> int:
    try:
        with suppress(KeyboardInterrupt):
            if args.kind == "comfyui":
                from emulator.comfyui import cli as comfyui

                asyncio.run(comfyui.serve(comfyui.config_from_args(args), args.host, args.port))
            else:
                from emulator.superduper import cli as superduper

                config = superduper.config_from_args(args)
                asyncio.run(superduper.serve(config, args.host, args.port))
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            print(
                f"imagine-bot emulator: port {args.port} is already in use; "
                "pick another with --port (0 = any free port).",
                file=sys.stderr,
            )
            return 2
        raise
    return 0


if __name__ == "__main__":
    sys.exit(main())
