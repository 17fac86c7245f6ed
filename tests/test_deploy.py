"""The compose try-out (``docker-compose.yml``): Compose accepts it, and it only sets what
the bot reads — replicas with their own ids on one PostgreSQL database."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from app.cli import build_parser
from app.config import every_variable

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_FILE = ROOT / "docker-compose.yml"


def compose_command() -> list[str] | None:
    """``docker compose`` (v2) or ``docker-compose`` (v1), whichever is installed."""
    docker = shutil.which("docker")
    if docker is not None:
        probe = subprocess.run([docker, "compose", "version"], capture_output=True, check=False)
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy is not None else None


def services() -> dict[str, dict[str, Any]]:
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    found: dict[str, dict[str, Any]] = data["services"]
    return found


def replicas() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if s.get("command") == ["imagine-bot", "run"]}


def test_compose_accepts_the_file() -> None:
    command = compose_command()
    if command is None:
        if os.environ.get("CI"):
            pytest.fail(
                "neither `docker compose` nor `docker-compose` is installed; .ci/run installs it"
            )
        pytest.skip("Docker Compose is not installed")
    done = subprocess.run(
        [*command, "-f", str(COMPOSE_FILE), "config", "-q"],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
        env={"PATH": os.environ.get("PATH", ""), "HOME": os.environ.get("HOME", "/root")},
    )
    assert done.returncode == 0, done.stderr


def test_the_replicas_share_one_postgresql_database_under_their_own_ids() -> None:
    bots = replicas()
    assert len(bots) == 2
    environments = [bot["environment"] for bot in bots.values()]
    assert len({env["IMAGINE_REPLICA_ID"] for env in environments}) == 2
    [url] = {env["IMAGINE_DATABASE_URL"] for env in environments}
    assert url.startswith("postgresql://") and "@postgres:5432/" in url
    assert all(
        bot["depends_on"]["postgres"]["condition"] == "service_healthy" for bot in bots.values()
    )


def test_the_replicas_set_only_variables_the_bot_reads() -> None:
    known = set(every_variable())
    unknown = {
        (name, variable)
        for name, bot in replicas().items()
        for variable in bot["environment"]
        if variable not in known
    }
    assert unknown == set()


def test_the_emulator_service_runs_a_valid_emulator_command() -> None:
    command = services()["emulator"]["command"]
    assert command[:2] == ["imagine-bot", "emulator"]
    args = build_parser("superduper").parse_args(command[1:])
    assert (args.host, args.port) == ("0.0.0.0", 8765)  # noqa: S104 (inside its container)
    assert services()["emulator"]["environment"].keys() <= set(every_variable())
