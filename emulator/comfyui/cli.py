"""Command-line hooks for running the ComfyUI emulator as a standalone server.

``imagine-bot emulator --kind comfyui`` wires these (``add_arguments``, ``config_from_args``,
``serve``), mirroring ``emulator.superduper.cli``.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Mapping

from emulator.comfyui.config import PREVIEW_METHODS, ComfyEmulatorConfig
from emulator.comfyui.server import ComfyEmulator
from emulator.serving import add_fault_arguments, seconds, serve_until_stopped, share

REALISTIC_STEP_TIME = 0.25
"""Seconds per sampler step with ``--realistic`` (20 steps ≈ 5 s, a mid-range GPU)."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Add the ComfyUI emulator's options to ``parser``."""
    add = parser.add_argument
    add("--host", default="127.0.0.1", help="interface to bind (default: 127.0.0.1)")
    add("--port", type=int, default=8188, help="port to bind, 0 = any free port (default: 8188)")
    add(
        "--checkpoint", action="append", default=None, metavar="NAME",
        help="a ckpt_name to offer (repeatable; default: emulator-sd15.safetensors)",
    )  # fmt: skip
    times = parser.add_mutually_exclusive_group()
    times.add_argument(
        "--realistic", action="store_true",
        help=f"sampler steps take {REALISTIC_STEP_TIME} s and a model load 2 s",
    )  # fmt: skip
    times.add_argument(
        "--step-time",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="seconds per sampler step (default: fast, for tests)",
    )
    add(
        "--preview-method",
        choices=PREVIEW_METHODS,
        default="none",
        help="send a binary JPEG preview per sampler step unless none (default: none)",
    )
    add("--ws-drop-rate", type=share, default=0.0, help="share of WebSocket messages dropped")
    add("--ws-duplicate-rate", type=share, default=0.0, help="share of messages sent twice")
    add(
        "--required-authorization", default=None, metavar="VALUE",
        help="demand this Authorization header (default: $COMFYUI_EMULATOR_AUTHORIZATION)",
    )  # fmt: skip
    add_fault_arguments(parser)


def config_from_args(
    ns: argparse.Namespace, *, environ: Mapping[str, str] | None = None
) -> ComfyEmulatorConfig:
    """Build the config from parsed arguments."""
    env = os.environ if environ is None else environ
    defaults = ComfyEmulatorConfig()
    step_time, load_time = defaults.step_time, defaults.load_time
    if ns.realistic:
        step_time, load_time = REALISTIC_STEP_TIME, 2.0
    elif ns.step_time is not None:
        step_time = ns.step_time
    return ComfyEmulatorConfig(
        checkpoints=tuple(ns.checkpoint) if ns.checkpoint else defaults.checkpoints,
        step_time=step_time,
        load_time=load_time,
        preview_method=ns.preview_method,
        ws_drop_rate=ns.ws_drop_rate,
        ws_duplicate_rate=ns.ws_duplicate_rate,
        ws_close_after=ns.ws_close_after,
        ws_accept_then_close=ns.ws_accept_then_close,
        ws_available=not ns.no_ws,
        http_5xx_rate=ns.http_5xx_rate,
        response_delay=ns.response_delay,
        required_authorization=(
            ns.required_authorization or env.get("COMFYUI_EMULATOR_AUTHORIZATION") or None
        ),
        seed=ns.seed,
    )


async def serve(
    config: ComfyEmulatorConfig,
    host: str,
    port: int,
    *,
    ready: Callable[[ComfyEmulator], None] | None = None,
) -> None:
    """Run the emulator until cancelled (Ctrl-C under ``asyncio.run``) or SIGTERM."""
    await serve_until_stopped(
        ComfyEmulator(config),
        host,
        port,
        banner=lambda e: f"ComfyUI emulator on {e.base_url}",
        ready=ready,
    )
