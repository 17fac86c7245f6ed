"""Command-line hooks for running the emulator as a standalone server.

``imagine-bot emulator`` wires these; ``python -m emulator`` runs them directly.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sys
from collections.abc import Callable, Mapping, Sequence

from emulator.serving import add_fault_arguments, seconds, serve_until_stopped, share
from emulator.superduper.config import EmulatorConfig
from emulator.superduper.server import Emulator

DEFAULT_TOKEN = "emulator-token"  # noqa: S105 - the local dev server's public default
REALISTIC_GEN_TIME = (30.0, 40.0)


def add_emulator_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the emulator's options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    add("--port", type=int, default=8765, help="port to bind, 0 = any free port (default: 8765)")
    add(
        "--token",
        default=None,
        help=f"bearer token clients must send (default: $SUPERDUPER_TOKEN or {DEFAULT_TOKEN!r})",
    )
    times = parser.add_mutually_exclusive_group()
    times.add_argument(
        "--realistic",
        action="store_true",
        help="generation takes 30-40 s, like the real service",
    )
    times.add_argument(
        "--gen-time",
        nargs=2,
        type=seconds,
        metavar=("MIN", "MAX"),
        help="generation time range in seconds (default: 2 4)",
    )
    add("--failure-rate", type=share, default=0.0, help="share of files that fail")
    add("--ws-drop-rate", type=share, default=0.0, help="share of WebSocket events dropped")
    add("--ws-duplicate-rate", type=share, default=0.0, help="share of events sent twice")
    add("--ws-reorder", action="store_true", help="send a file's events out of order")
    add("--ws-reject-401", action="store_true", help="refuse every WebSocket handshake with 401")
    add("--http-429-rate", type=share, default=0.0, help="share of HTTP requests answered 429")
    add("--retry-after", default="1", help="Retry-After value sent with a 429 (default: 1)")
    add(
        "--result-url-base",
        default=None,
        metavar="URL",
        help="base of result URLs, e.g. the public address when binding 0.0.0.0",
    )
    add_fault_arguments(parser)


def config_from_args(
    ns: argparse.Namespace, *, environ: Mapping[str, str] | None = None
) -> EmulatorConfig:
    """Build the config from parsed arguments (the token falls back to ``SUPERDUPER_TOKEN``)."""
    env = os.environ if environ is None else environ
    token = ns.token or env.get("SUPERDUPER_TOKEN") or DEFAULT_TOKEN
    if ns.realistic:
        gen_time = REALISTIC_GEN_TIME
    elif ns.gen_time is not None:
        gen_time = (float(ns.gen_time[0]), float(ns.gen_time[1]))
    else:
        gen_time = EmulatorConfig().gen_time
    return EmulatorConfig(
        token=token,
        gen_time=gen_time,
        failure_rate=ns.failure_rate,
        ws_drop_rate=ns.ws_drop_rate,
        ws_duplicate_rate=ns.ws_duplicate_rate,
        ws_reorder=ns.ws_reorder,
        ws_close_after=ns.ws_close_after,
        ws_accept_then_close=ns.ws_accept_then_close,
        ws_reject_401=ns.ws_reject_401,
        ws_available=not ns.no_ws,
        http_5xx_rate=ns.http_5xx_rate,
        http_429_rate=ns.http_429_rate,
        retry_after=ns.retry_after,
        response_delay=ns.response_delay,
        result_url_base=ns.result_url_base,
        seed=ns.seed,
    )


async def serve(
    config: EmulatorConfig,
    host: str,
    port: int,
    *,
    ready: Callable[[Emulator], None] | None = None,
) -> None:
    """Run the emulator until cancelled (Ctrl-C under ``asyncio.run``) or SIGTERM."""
    await serve_until_stopped(
        Emulator(config),
        host,
        port,
        banner=lambda e: f"SuperDuper emulator on {e.base_url} (token: {config.token})",
        ready=ready,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m emulator [options]``."""
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    add_emulator_arguments(parser)
    ns = parser.parse_args(argv)
    config = config_from_args(ns)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve(config, ns.host, ns.port))
    return 0


if __name__ == "__main__":
    sys.exit(main())
