"""The ``imagine-bot`` command as a user runs it."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import socket
from pathlib import Path

import pytest

from app.cli import build_parser
from app.config import ConfigError, load_settings
from bot.media.video import inspect_video
from tests.support.child import Child

SECRET = "xoxb-very-secret-slack-token"


async def run_cli(*args: str, env: dict[str, str], cwd: Path) -> tuple[int, str]:
    process = await asyncio.create_subprocess_exec(
        "imagine-bot",
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        stdin=asyncio.subprocess.DEVNULL,
        cwd=cwd,
        env={"PATH": os.environ["PATH"], "HOME": str(cwd), **env},
    )
    async with asyncio.timeout(60):
        out, _ = await process.communicate()
    return process.returncode or 0, out.decode()


async def test_demo_runs_one_job_end_to_end_and_saves_the_image(tmp_path: Path) -> None:
    code, out = await run_cli("demo", "a red fox in the snow --ar 3:2", env={}, cwd=tmp_path)
    assert code == 0, out
    assert "Started the built-in SuperDuper emulator" in out
    assert "is imagining “a red fox in the snow”" in out
    match = re.search(r"Image saved: (\S+)", out)
    assert match is not None
    image = Path(match.group(1))
    assert image.parent == tmp_path / "imagine-output"
    assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


async def test_demo_with_bad_input_says_why_and_fails(tmp_path: Path) -> None:
    code, out = await run_cli("demo", "a fox --ar banana", env={}, cwd=tmp_path)
    assert code == 2
    assert "--ar" in out and "3:2" in out
    assert not (tmp_path / "imagine-output").exists()


async def test_run_without_a_platform_names_the_variables_to_set(tmp_path: Path) -> None:
    code, out = await run_cli(
        "run", env={"SUPERDUPER_URL": "http://127.0.0.1:9", "SUPERDUPER_TOKEN": "t"}, cwd=tmp_path
    )
    assert code == 2
    for name in ("DISCORD_TOKEN", "SLACK_BOT_TOKEN", "SLACK_APP_TOKEN", "SLACK_SIGNING_SECRET"):
        assert name in out


async def test_invalid_configuration_lists_every_problem_without_secrets(tmp_path: Path) -> None:
    env = {
        "SUPERDUPER_URL": "ftp://nope",
        "IMAGINE_MAX_JOBS_PER_USER": "lots",
        "SLACK_BOT_TOKEN": SECRET,
    }
    code, out = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2
    assert "SUPERDUPER_URL must be a http/https URL" in out
    assert "IMAGINE_MAX_JOBS_PER_USER must be a whole number" in out
    assert "SLACK_APP_TOKEN" in out
    assert SECRET not in out


def test_dotenv_is_read_and_the_environment_wins(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text(
        "SUPERDUPER_URL=http://from-dotenv:1\nSUPERDUPER_TOKEN=dotenv-token\nDISCORD_TOKEN=abc\n"
    )
    settings = load_settings({"SUPERDUPER_URL": "http://from-env:2"}, dotenv)
    assert settings.superduper is not None
    assert settings.superduper.base_url == "http://from-env:2"
    assert settings.superduper.token == "dotenv-token"
    assert settings.discord is not None and settings.discord.token == "abc"
    assert "dotenv-token" not in repr(settings) and "abc" not in repr(settings.discord)


def test_a_url_without_a_token_is_refused() -> None:
    with pytest.raises(ConfigError, match="SUPERDUPER_TOKEN is required"):
        load_settings({"SUPERDUPER_URL": "http://127.0.0.1:1"}, None)


async def test_console_answers_help_and_quits(tmp_path: Path) -> None:
    env = {
        "SUPERDUPER_URL": "http://127.0.0.1:9",
        "SUPERDUPER_TOKEN": "t",
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
    }
    child = await Child.start("console", env=env)
    await child.send("hello")
    await child.expect("/settings (or /imagine-settings) [size=WxH")
    await child.send("/quit")
    assert await child.finish() == 0


async def test_no_arguments_prints_help_and_version_works(tmp_path: Path) -> None:
    code, out = await run_cli(env={}, cwd=tmp_path)
    assert code == 0
    for command in ("demo", "console", "emulator", "run", "health"):
        assert command in out
    code, out = await run_cli("--version", env={}, cwd=tmp_path)
    assert code == 0 and re.fullmatch(r"imagine-bot \S+\n", out)


async def test_demo_help_lists_the_imagine_flags(tmp_path: Path) -> None:
    code, out = await run_cli("demo", "--help", env={}, cwd=tmp_path)
    assert code == 0
    for flag in ("--ar", "--size", "--seed", "--steps", "--no", "--style", "--n"):
        assert flag in out


def test_every_option_in_help_has_a_description() -> None:
    parser = build_parser()
    [commands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    for name, sub in commands.choices.items():
        for action in sub._actions:
            assert action.help, f"imagine-bot {name}: {action.option_strings or action.dest}"
    for action in parser._actions:
        assert action.help, action.option_strings


async def test_a_busy_emulator_port_is_one_line_and_exit_2(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        code, out = await run_cli("emulator", "--port", str(port), env={}, cwd=tmp_path)
    assert code == 2
    assert f"port {port} is already in use" in out and "--port" in out
    assert "Traceback" not in out


async def test_an_unreachable_discord_is_one_line_naming_the_setting(tmp_path: Path) -> None:
    env = {
        "SUPERDUPER_URL": "http://127.0.0.1:9",
        "SUPERDUPER_TOKEN": "t",
        "DISCORD_TOKEN": "a-discord-token-0123456789",
        "DISCORD_API_BASE": "http://discord.invalid",
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_HEALTH_PORT": "0",
    }
    code, out = await run_cli("run", env=env, cwd=tmp_path)
    assert code == 2, out
    assert "Discord is unreachable at http://discord.invalid" in out
    assert "DISCORD_API_BASE" in out
    assert "Traceback" not in out and "a-discord-token" not in out


async def test_demo_animate_saves_a_playable_clip(tmp_path: Path) -> None:
    code, out = await run_cli("demo", "--animate", "a fox running", env={}, cwd=tmp_path)
    assert code == 0, out
    match = re.search(r"Clip saved: (\S+)", out)
    assert match is not None
    clip = Path(match.group(1)).read_bytes()
    media = await inspect_video(clip, declared_type="video/mp4", max_pixels=10**7)
    assert media.format == "MP4" and media.duration == 4.0
