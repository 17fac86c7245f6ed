"""What both emulators' command lines share: argument types and serving until SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
from collections.abc import Callable
from typing import Protocol, TypeVar

from aiohttp import web
from aiohttp.log import access_logger


def share(text: str) -> float:
    """An argparse type: a share between 0 and 1."""
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"expected a share between 0 and 1, got {text}")
    return value


def seconds(text: str) -> float:
    """An argparse type: a non-negative number of seconds."""
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected seconds >= 0, got {text}")
    return value


def add_fault_arguments(parser: argparse.ArgumentParser) -> None:
    """The WebSocket and HTTP fault knobs both emulators offer, and the seed."""
    add = parser.add_argument
    add(
        "--ws-close-after",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="close each WebSocket this long after accepting it",
    )
    add(
        "--ws-accept-then-close",
        action="store_true",
        help="accept WebSocket upgrades, then close at once",
    )
    add("--no-ws", action="store_true", help="answer WebSocket handshakes with 503")
    add("--http-5xx-rate", type=share, default=0.0, help="share of HTTP requests answered 503")
    add(
        "--response-delay",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="delay added before every HTTP response",
    )
    add("--seed", type=int, default=0, help="seed of the emulator's random choices")


class Servable(Protocol):
    @property
    def base_url(self) -> str: ...

    async def start(self, host: str = ..., port: int = ..., *, access_log: bool = ...) -> None: ...

    async def stop(self) -> None: ...


E = TypeVar("E", bound=Servable)


async def serve_until_stopped(
    emulator: E,
    host: str,
    port: int,
    *,
    banner: Callable[[E], str],
    ready: Callable[[E], None] | None = None,
) -> None:
    """Serve ``emulator`` until cancelled (Ctrl-C under ``asyncio.run``) or SIGTERM,
    printing ``banner(emulator)`` once it listens."""
    await emulator.start(host=host, port=port, access_log=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        print(banner(emulator), flush=True)
        if ready is not None:
            ready(emulator)
        await stop.wait()
    finally:
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
        await emulator.stop()


async def start_app(
    app: web.Application, host: str, port: int, *, access_log: bool
) -> web.AppRunner:
    """Serve ``app`` on ``host:port`` (0 = an ephemeral port: ``runner.addresses``); nothing
    is left bound when the port cannot be had."""
    runner = web.AppRunner(
        app,
        handle_signals=False,
        shutdown_timeout=1.0,
        access_log=access_logger if access_log else None,
    )
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner
