"""The CLI hooks: options → config, and ``serve`` running until cancelled."""

from __future__ import annotations

import argparse
import asyncio

import httpx
import pytest

from emulator.superduper import Emulator
from emulator.superduper.cli import add_emulator_arguments, config_from_args, serve


def _parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_emulator_arguments(parser)
    return parser.parse_args(argv)


def test_defaults() -> None:
    ns = _parse()
    config = config_from_args(ns, environ={})
    assert (ns.host, ns.port) == ("127.0.0.1", 8765)
    assert config.token == "emulator-token"
    assert config.gen_time == (2.0, 4.0)
    assert config.ws_available is True
    assert "emulator-token" not in repr(config)


def test_token_comes_from_the_environment_unless_given() -> None:
    assert config_from_args(_parse(), environ={"SUPERDUPER_TOKEN": "t-env"}).token == "t-env"
    given = config_from_args(_parse("--token", "t-arg"), environ={"SUPERDUPER_TOKEN": "t-env"})
    assert given.token == "t-arg"


def test_every_knob_reaches_the_config() -> None:
    ns = _parse(
        "--gen-time", "0.5", "1.5",
        "--failure-rate", "0.1",
        "--ws-drop-rate", "0.2",
        "--ws-duplicate-rate", "0.3",
        "--ws-reorder",
        "--ws-close-after", "9",
        "--ws-accept-then-close",
        "--ws-reject-401",
        "--no-ws",
        "--http-5xx-rate", "0.4",
        "--http-429-rate", "0.5",
        "--retry-after", "7",
        "--response-delay", "0.25",
        "--seed", "42",
    )  # fmt: skip
    config = config_from_args(ns, environ={})
    assert (config.gen_time, config.failure_rate, config.seed) == ((0.5, 1.5), 0.1, 42)
    assert (config.ws_drop_rate, config.ws_duplicate_rate, config.ws_reorder) == (0.2, 0.3, True)
    assert (config.ws_close_after, config.ws_accept_then_close) == (9.0, True)
    assert (config.ws_reject_401, config.ws_available) == (True, False)
    assert (config.http_5xx_rate, config.http_429_rate, config.retry_after) == (0.4, 0.5, "7")
    assert config.response_delay == 0.25
    assert config_from_args(_parse("--realistic"), environ={}).gen_time == (30.0, 40.0)


@pytest.mark.parametrize(
    "argv",
    [("--failure-rate", "1.5"), ("--realistic", "--gen-time", "1", "2"), ("--gen-time", "-1", "2")],
)
def test_bad_options_are_refused(argv: tuple[str, ...]) -> None:
    with pytest.raises(SystemExit):
        _parse(*argv)


async def test_serve_prints_its_address_serves_and_stops_when_cancelled(
    capsys: pytest.CaptureFixture[str],
) -> None:
    config = config_from_args(_parse("--token", "cli-token", "--gen-time", "0", "0"), environ={})
    started: asyncio.Future[Emulator] = asyncio.get_running_loop().create_future()
    server = asyncio.create_task(serve(config, "127.0.0.1", 0, ready=started.set_result))
    emu = await asyncio.wait_for(started, 10)
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False) as http:
        refused = await http.get("/api/files/x")
        found = await http.get("/api/files/x", headers={"Authorization": "Bearer cli-token"})

        server.cancel()
        with pytest.raises(asyncio.CancelledError):
            await server
        with pytest.raises(httpx.ConnectError):
            await http.get("/api/files/x")

    assert (refused.status_code, found.status_code) == (401, 404)
    assert capsys.readouterr().out == (
        f"SuperDuper emulator on http://127.0.0.1:{emu.port} (token: cli-token)\n"
    )
