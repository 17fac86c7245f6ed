"""Settings from the environment (and an optional ``.env``), validated at startup.

Every problem is reported at once, by variable name, without echoing secret values."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from dotenv import dotenv_values

from bot.access import AccessConfig
from bot.command import CommandDefaults
from bot.config import BotConfig


class ConfigError(ValueError):
    """The configuration is invalid; ``str(exc)`` lists each problem on its own line."""


@dataclass(frozen=True, slots=True)
class DiscordEnv:
    token: str = field(repr=False)
    guild_id: int | None = None
    api_base: str | None = None
    gateway_url: str | None = None


@dataclass(frozen=True, slots=True)
class SlackEnv:
    bot_token: str = field(repr=False)
    app_token: str | None = field(default=None, repr=False)
    signing_secret: str | None = field(default=None, repr=False)
    http_port: int = 3000
    api_base: str | None = None


@dataclass(frozen=True, slots=True)
class Settings:
    superduper_url: str | None = None
    superduper_token: str | None = field(default=None, repr=False)
    superduper_ws_url: str | None = None
    db_path: Path = Path("imagine-bot.db")
    output_dir: Path = Path("imagine-output")
    log_level: str = "INFO"
    bot: BotConfig = field(default_factory=BotConfig)
    discord: DiscordEnv | None = None
    slack: SlackEnv | None = None


PLATFORM_HELP = (
    "No chat platform is configured. Set one of:\n"
    "  Discord: DISCORD_TOKEN (and optionally DISCORD_GUILD_ID)\n"
    "  Slack:   SLACK_BOT_TOKEN plus SLACK_APP_TOKEN (Socket Mode)\n"
    "           or SLACK_SIGNING_SECRET and SLACK_HTTP_PORT (HTTP mode)\n"
    'Try the bot without any tokens: imagine-bot demo "a red fox in the snow"'
)


def read_environment(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    """The process environment over the ``.env`` file (the environment wins)."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(environ)
    return {k: v.strip() for k, v in merged.items() if v.strip()}


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self.env = env
        self.problems: list[str] = []

    def text(self, name: str) -> str | None:
        return self.env.get(name)

    def url(self, name: str, schemes: tuple[str, ...]) -> str | None:
        value = self.env.get(name)
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in schemes or not parts.netloc:
            self.problems.append(
                f"{name} must be a {'/'.join(schemes)} URL, e.g. {schemes[0]}://host:port"
            )
            return None
        return value.rstrip("/")

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        value = self.env.get(name)
        if value is None:
            return default
        try:
            number = int(value)
        except ValueError:
            self.problems.append(f"{name} must be a whole number (got {value!r})")
            return default
        if not low <= number <= high:
            self.problems.append(f"{name} must be between {low} and {high} (got {number})")
            return default
        return number


def _names(env: Mapping[str, str], name: str) -> frozenset[str]:
    """A comma-separated list of ids or words."""
    return frozenset(part.strip() for part in env.get(name, "").split(",") if part.strip())


def load_settings(environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")) -> Settings:
    env = read_environment(environ, dotenv_path)
    r = _Reader(env)
    url = r.url("SUPERDUPER_URL", ("http", "https"))
    ws_url = r.url("SUPERDUPER_WS_URL", ("ws", "wss"))
    token = r.text("SUPERDUPER_TOKEN")
    if url is not None and token is None:
        r.problems.append("SUPERDUPER_TOKEN is required when SUPERDUPER_URL is set")

    styles = tuple(s.strip() for s in env.get("IMAGINE_STYLES", "").split(",") if s.strip())
    defaults = CommandDefaults()
    if styles:
        defaults = CommandDefaults(styles=styles, style=styles[0])
    access = AccessConfig(
        allowed_channels=_names(env, "IMAGINE_ALLOWED_CHANNELS"),
        allowed_users=_names(env, "IMAGINE_ALLOWED_USERS"),
        allowed_roles=_names(env, "IMAGINE_ALLOWED_ROLES"),
        admin_users=_names(env, "IMAGINE_ADMIN_USERS"),
        banned_words=tuple(sorted(_names(env, "IMAGINE_BANNED_WORDS"))),
        rate_limit_jobs=r.integer("IMAGINE_RATE_LIMIT_JOBS", 0, 0, 100_000),
        rate_limit_window=float(r.integer("IMAGINE_RATE_LIMIT_WINDOW", 3600, 1, 7 * 24 * 3600)),
    )
    bot = BotConfig(
        defaults=defaults,
        access=access,
        max_jobs_per_user=r.integer("IMAGINE_MAX_JOBS_PER_USER", 3, 1, 100),
        max_running_jobs=r.integer("IMAGINE_MAX_RUNNING_JOBS", 20, 1, 100_000),
        job_timeout=float(r.integer("IMAGINE_JOB_TIMEOUT", 30 * 60, 10, 24 * 3600)),
    )

    discord = None
    if (discord_token := r.text("DISCORD_TOKEN")) is not None:
        guild = env.get("DISCORD_GUILD_ID")
        if guild is not None and not guild.isdigit():
            r.problems.append("DISCORD_GUILD_ID must be a numeric server id")
            guild = None
        discord = DiscordEnv(
            token=discord_token,
            guild_id=int(guild) if guild else None,
            api_base=r.url("DISCORD_API_BASE", ("http", "https")),
            gateway_url=r.url("DISCORD_GATEWAY_URL", ("ws", "wss")),
        )

    slack = None
    if (slack_token := r.text("SLACK_BOT_TOKEN")) is not None:
        app_token = r.text("SLACK_APP_TOKEN")
        secret = r.text("SLACK_SIGNING_SECRET")
        if app_token is None and secret is None:
            r.problems.append(
                "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) "
                "nor SLACK_SIGNING_SECRET (HTTP mode) is"
            )
        api_base = r.url("SLACK_API_BASE", ("http", "https"))
        slack = SlackEnv(
            bot_token=slack_token,
            app_token=app_token,
            signing_secret=secret,
            http_port=r.integer("SLACK_HTTP_PORT", 3000, 0, 65535),  # 0: any free port (logged)
            api_base=api_base + "/" if api_base else None,
        )

    level = env.get("IMAGINE_LOG_LEVEL", "INFO").upper()
    if level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        r.problems.append("IMAGINE_LOG_LEVEL must be DEBUG, INFO, WARNING or ERROR")
        level = "INFO"
    if r.problems:
        raise ConfigError("\n".join(f"- {p}" for p in r.problems))
    return Settings(
        superduper_url=url,
        superduper_token=token,
        superduper_ws_url=ws_url,
        db_path=Path(env.get("IMAGINE_DB_PATH", "imagine-bot.db")),
        output_dir=Path(env.get("IMAGINE_OUTPUT_DIR", "imagine-output")),
        log_level=level,
        bot=bot,
        discord=discord,
        slack=slack,
    )
