"""The one settings model: the environment (over an optional ``.env``) → typed, validated
settings, and from them every component's own config object.

``EnvSettings`` (pydantic-settings) holds one field per variable, named after it; secrets
are ``SecretStr``. Tuning knobs of the backends are read from their own dataclasses'
fields (``SUPERDUPER_<FIELD>``), so every knob there is settable without a second list.
Every problem is reported at once, one line each, by variable name, never echoing a
secret's value."""

from __future__ import annotations

import dataclasses
import re
import typing
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from dotenv import dotenv_values
from pydantic import Field, SecretStr, TypeAdapter, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from adapters.discord.settings import DiscordSettings, shard_list
from adapters.slack.settings import DEFAULT_API_BASE, SlackSettings
from app.stores import StoreSettings, default_replica_id
from bot.access import AccessConfig
from bot.backend.comfyui.settings import ComfyUISettings, urls_from
from bot.backend.superduper.settings import SuperDuperSettings
from bot.command import CommandDefaults
from bot.config import BotConfig
from storage import url_secrets

BACKENDS = ("superduper", "comfyui")
SUPERDUPER_KNOBS_EXCLUDED = frozenset({"base_url", "token", "ws_url"})
COMFYUI_KNOBS_EXCLUDED = frozenset({"urls", "checkpoint", "workflow_path", "authorization"})


MAX_DISCORD_SHARDS = 100_000
"""A bound for ``DISCORD_SHARD_COUNT`` (the largest bots run a few thousand shards)."""


class ConfigError(ValueError):
    """The configuration is invalid; ``str(exc)`` lists each problem on its own line."""


PLATFORM_HELP = (
    "No chat platform is configured. Set one of:\n"
    "  Discord: DISCORD_TOKEN (and optionally DISCORD_GUILD_ID)\n"
    "  Slack:   SLACK_BOT_TOKEN plus SLACK_APP_TOKEN (Socket Mode)\n"
    "           or SLACK_SIGNING_SECRET and SLACK_HTTP_PORT (HTTP mode)\n"
    'Try the bot without any tokens: imagine-bot demo "a red fox in the snow"'
)


def _url(value: str | None, schemes: tuple[str, ...]) -> str | None:
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in schemes or not parts.netloc:
        raise ValueError(f"must be a {'/'.join(schemes)} URL, e.g. {schemes[0]}://host:port")
    return value.rstrip("/")


class EnvSettings(BaseSettings):
    """Every variable, by its lower-cased name. Built from an explicit mapping only
    (``load_settings`` merges the environment over ``.env``), so tests and the CLI share
    one path and nothing is read behind the caller's back."""

    model_config = SettingsConfigDict(extra="ignore", frozen=True)

    # image services
    imagine_backend: Literal["superduper", "comfyui"] | None = None
    superduper_url: str | None = None
    superduper_token: SecretStr | None = None
    superduper_ws_url: str | None = None
    comfyui_url: str | None = None
    comfyui_urls: str | None = None
    comfyui_checkpoint: str | None = None
    comfyui_workflow: str | None = None
    comfyui_authorization: SecretStr | None = None
    # storage and files
    imagine_db_path: Path = Path("imagine-bot.db")
    imagine_database_url: SecretStr | None = None
    imagine_replica_id: str | None = Field(None, pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")
    imagine_lease_seconds: float = Field(30.0, ge=3, le=600)
    imagine_output_dir: Path = Path("imagine-output")
    imagine_retention_days: int = Field(30, ge=1, le=3650)
    # jobs and fairness
    imagine_max_jobs_per_user: int = Field(3, ge=1, le=100)
    imagine_max_running_jobs: int = Field(20, ge=1, le=100_000)
    imagine_job_timeout: int = Field(30 * 60, ge=10, le=24 * 3600)
    imagine_progress_interval: float = Field(2.0, ge=0, le=600)
    imagine_shutdown_grace: float = Field(20.0, ge=0, le=600)
    imagine_styles: str = ""
    # access
    imagine_allowed_channels: str = ""
    imagine_allowed_users: str = ""
    imagine_allowed_roles: str = ""
    imagine_admin_users: str = ""
    imagine_banned_words: str = ""
    imagine_rate_limit_jobs: int = Field(0, ge=0, le=100_000)
    imagine_rate_limit_window: int = Field(3600, ge=1, le=7 * 24 * 3600)
    # operations
    imagine_log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    imagine_log_format: Literal["text", "json"] = "text"
    imagine_health_port: int = Field(8080, ge=0, le=65535)
    # Discord
    discord_token: SecretStr | None = None
    discord_guild_id: int | None = Field(None, ge=0)
    discord_api_base: str | None = None
    discord_gateway_url: str | None = None
    discord_shard_count: int | None = Field(None, ge=1, le=MAX_DISCORD_SHARDS)
    discord_shard_ids: str | None = None
    # Slack
    slack_bot_token: SecretStr | None = None
    slack_app_token: SecretStr | None = None
    slack_signing_secret: SecretStr | None = None
    slack_http_port: int = Field(3000, ge=0, le=65535)
    slack_api_base: str | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)

    @field_validator("imagine_log_level", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("imagine_log_format", mode="before")
    @classmethod
    def _lower(cls, value: object) -> object:
        return value.lower() if isinstance(value, str) else value

    @field_validator("imagine_database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            scheme = value.get_secret_value().partition("://")[0]
            if scheme not in ("postgresql", "postgres"):  # the message never shows the URL
                raise ValueError("must be a postgresql:// URL, e.g. postgresql://user@host/db")
        return value

    @field_validator("superduper_url", "discord_api_base", "slack_api_base")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return _url(value, ("http", "https"))

    @field_validator("superduper_ws_url", "discord_gateway_url")
    @classmethod
    def _ws_url(cls, value: str | None) -> str | None:
        return _url(value, ("ws", "wss"))

    @staticmethod
    def variable(field_name: str) -> str:
        return field_name.upper()


def secret(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


def names(text: str) -> frozenset[str]:
    """A comma-separated list of ids or words."""
    return frozenset(part.strip() for part in text.split(",") if part.strip())


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the app needs, as each component's own config object."""

    env: EnvSettings = field(repr=False)
    bot: BotConfig
    superduper: SuperDuperSettings | None
    comfyui: ComfyUISettings | None
    backend: str
    """The default backend (``IMAGINE_BACKEND``; SuperDuper when unset)."""
    discord: DiscordSettings | None
    slack: SlackSettings | None

    @property
    def db_path(self) -> Path:
        return self.env.imagine_db_path

    @property
    def store(self) -> StoreSettings:
        """SQLite at ``IMAGINE_DB_PATH``, or PostgreSQL when ``IMAGINE_DATABASE_URL`` is set."""
        env = self.env
        return StoreSettings(
            db_path=env.imagine_db_path,
            database_url=env.imagine_database_url,
            replica_id=env.imagine_replica_id or default_replica_id(),
            lease_seconds=env.imagine_lease_seconds,
        )

    @property
    def output_dir(self) -> Path:
        return self.env.imagine_output_dir

    @property
    def log_level(self) -> str:
        return self.env.imagine_log_level

    @property
    def health_port(self) -> int:
        return self.env.imagine_health_port

    @property
    def superduper_url(self) -> str | None:
        return self.env.superduper_url

    def secrets(self) -> list[str]:
        """Every configured secret, for the log redactor."""
        env = self.env
        values = (
            env.superduper_token,
            env.comfyui_authorization,
            env.discord_token,
            env.slack_bot_token,
            env.slack_app_token,
            env.slack_signing_secret,
        )
        found = [v.get_secret_value() for v in values if v is not None]
        if env.imagine_database_url is not None:
            found.extend(url_secrets(env.imagine_database_url.get_secret_value()))
        return found


def read_environment(environ: Mapping[str, str], dotenv_path: Path | None) -> dict[str, str]:
    """The process environment over the ``.env`` file (the environment wins); blank
    values count as unset."""
    merged: dict[str, str] = {}
    if dotenv_path is not None and dotenv_path.is_file():
        merged.update({k: v for k, v in dotenv_values(dotenv_path).items() if v is not None})
    merged.update(environ)
    return {k: v.strip() for k, v in merged.items() if v.strip()}


def load_settings(environ: Mapping[str, str], dotenv_path: Path | None = Path(".env")) -> Settings:
    env_vars = read_environment(environ, dotenv_path)
    problems: list[str] = []
    known = EnvSettings.model_fields
    values: dict[str, Any] = {k.lower(): v for k, v in env_vars.items() if k.lower() in known}
    try:
        env = EnvSettings(**values)
    except ValidationError as exc:
        problems.extend(_describe(exc, env_vars))
        safe: dict[str, Any] = {k: v for k, v in values.items() if k not in _failed_fields(exc)}
        env = EnvSettings(**safe)
    bot = _bot_config(env)
    superduper = _superduper(env, env_vars, problems)
    comfyui = _comfyui(env, env_vars, problems)
    backend = env.imagine_backend or ("superduper" if superduper or not comfyui else "comfyui")
    if env.imagine_backend == "superduper" and superduper is None:
        problems.append("IMAGINE_BACKEND is superduper, but SUPERDUPER_URL is not set")
    if env.imagine_backend == "comfyui" and comfyui is None and not problems:
        problems.append("IMAGINE_BACKEND is comfyui, but COMFYUI_URL (or COMFYUI_URLS) is not set")
    discord = _discord(env, env_vars, bot.defaults.styles, problems)
    slack = _slack(env, problems)
    if problems:
        raise ConfigError("\n".join(f"- {p}" for p in problems))
    return Settings(
        env=env,
        bot=bot,
        superduper=superduper,
        comfyui=comfyui,
        backend=backend,
        discord=discord,
        slack=slack,
    )


def _bot_config(env: EnvSettings) -> BotConfig:
    styles = tuple(s.strip() for s in env.imagine_styles.split(",") if s.strip())
    defaults = CommandDefaults(styles=styles, style=styles[0]) if styles else CommandDefaults()
    access = AccessConfig(
        allowed_channels=names(env.imagine_allowed_channels),
        allowed_users=names(env.imagine_allowed_users),
        allowed_roles=names(env.imagine_allowed_roles),
        admin_users=names(env.imagine_admin_users),
        banned_words=tuple(sorted(names(env.imagine_banned_words))),
        rate_limit_jobs=env.imagine_rate_limit_jobs,
        rate_limit_window=float(env.imagine_rate_limit_window),
    )
    return BotConfig(
        defaults=defaults,
        access=access,
        max_jobs_per_user=env.imagine_max_jobs_per_user,
        max_running_jobs=env.imagine_max_running_jobs,
        job_timeout=float(env.imagine_job_timeout),
        progress_interval=env.imagine_progress_interval,
        shutdown_grace=env.imagine_shutdown_grace,
        retention_days=float(env.imagine_retention_days),
        lease_renew_interval=env.imagine_lease_seconds / 3,
    )


def every_variable() -> list[str]:
    """Every environment variable the bot reads (the knobs included)."""
    return [
        *(name.upper() for name in EnvSettings.model_fields),
        *knob_variables(SuperDuperSettings, "SUPERDUPER_", SUPERDUPER_KNOBS_EXCLUDED),
        *knob_variables(ComfyUISettings, "COMFYUI_", COMFYUI_KNOBS_EXCLUDED),
    ]


def knob_variables(settings_type: type[Any], prefix: str, excluded: frozenset[str]) -> list[str]:
    """The variables that set a backend's tuning knobs (for the docs and their test)."""
    return [f"{prefix}{f.name.upper()}" for f in _knob_fields(settings_type, excluded)]


def _knob_fields(
    settings_type: type[Any], excluded: frozenset[str]
) -> list[dataclasses.Field[Any]]:
    return [f for f in dataclasses.fields(settings_type) if f.name not in excluded]


def _knobs(
    settings_type: type[Any],
    prefix: str,
    excluded: frozenset[str],
    env_vars: Mapping[str, str],
    problems: list[str],
) -> dict[str, Any]:
    """``PREFIX_<FIELD>`` for each knob of a settings dataclass, parsed as its field's type."""
    hints = typing.get_type_hints(settings_type)
    knobs: dict[str, Any] = {}
    for f in _knob_fields(settings_type, excluded):
        name = f"{prefix}{f.name.upper()}"
        if name not in env_vars:
            continue
        try:
            knobs[f.name] = TypeAdapter(hints[f.name]).validate_python(env_vars[name])
        except ValidationError:
            kind = "a whole number" if hints[f.name] is int else "a number"
            problems.append(f"{name} must be {kind} (got {env_vars[name]!r})")
    return knobs


def _build(
    settings_type: type[Any],
    prefix: str,
    values: dict[str, Any],
    knobs: dict[str, Any],
    problems: list[str],
) -> Any:
    """The dataclass, its own range checks worded with the knobs' variable names."""
    try:
        return settings_type(**values, **knobs)
    except ValueError as exc:
        message = str(exc)
        for name in knobs:
            message = re.sub(rf"\b{name}\b", f"{prefix}{name.upper()}", message)
        problems.append(message)
        return None


def _superduper(
    env: EnvSettings, env_vars: Mapping[str, str], problems: list[str]
) -> SuperDuperSettings | None:
    knobs = _knobs(SuperDuperSettings, "SUPERDUPER_", SUPERDUPER_KNOBS_EXCLUDED, env_vars, problems)
    if env.superduper_url is None:
        return None
    token = secret(env.superduper_token)
    if token is None:
        problems.append("SUPERDUPER_TOKEN is required when SUPERDUPER_URL is set")
        return None
    values = {"base_url": env.superduper_url, "token": token, "ws_url": env.superduper_ws_url}
    built: SuperDuperSettings | None = _build(
        SuperDuperSettings, "SUPERDUPER_", values, knobs, problems
    )
    return built


def _comfyui(
    env: EnvSettings, env_vars: Mapping[str, str], problems: list[str]
) -> ComfyUISettings | None:
    knobs = _knobs(ComfyUISettings, "COMFYUI_", COMFYUI_KNOBS_EXCLUDED, env_vars, problems)
    urls = urls_from(env.comfyui_url, env.comfyui_urls)
    if not urls:
        return None
    if env.comfyui_checkpoint is None:
        problems.append(
            "COMFYUI_CHECKPOINT is required with COMFYUI_URL(S): the checkpoint file the "
            "built-in workflows load (as listed in ComfyUI's models/checkpoints)"
        )
        return None
    values = {
        "urls": urls,
        "checkpoint": env.comfyui_checkpoint,
        "workflow_path": env.comfyui_workflow,
        "authorization": secret(env.comfyui_authorization),
    }
    built: ComfyUISettings | None = _build(ComfyUISettings, "COMFYUI_", values, knobs, problems)
    return built


def _discord(
    env: EnvSettings, env_vars: Mapping[str, str], styles: tuple[str, ...], problems: list[str]
) -> DiscordSettings | None:
    shard_ids = _discord_shard_ids(env, env_vars, problems)
    token = secret(env.discord_token)
    if token is None:
        return None
    return DiscordSettings(
        token=token,
        guild_id=env.discord_guild_id,
        api_base=env.discord_api_base,
        gateway_url=env.discord_gateway_url,
        styles=styles,
        shard_count=env.discord_shard_count,
        shard_ids=shard_ids,
    )


def _discord_shard_ids(
    env: EnvSettings, env_vars: Mapping[str, str], problems: list[str]
) -> tuple[int, ...] | None:
    """``DISCORD_SHARD_IDS`` checked against ``DISCORD_SHARD_COUNT``: one line per problem
    (``None``, all the shards, when unset or invalid)."""
    raw, count = env.discord_shard_ids, env.discord_shard_count
    if raw is None:
        return None
    parts = [part.strip() for part in raw.split(",")]
    if not all(part.isdigit() and part.isascii() for part in parts):
        problems.append(
            f"DISCORD_SHARD_IDS must be shard numbers separated by commas, e.g. 0,1 (got {raw!r})"
        )
        return None
    ids = [int(part) for part in parts]
    found = len(problems)
    repeated = [shard for shard, times in Counter(ids).items() if times > 1]
    if repeated:
        problems.append(
            f"DISCORD_SHARD_IDS lists shard{'s' if len(repeated) > 1 else ''} "
            f"{shard_list(repeated)} more than once (got {raw!r})"
        )
    if count is None:
        if "DISCORD_SHARD_COUNT" not in env_vars:  # else its own line says what is wrong
            problems.append(
                "DISCORD_SHARD_IDS needs DISCORD_SHARD_COUNT, the total number of shards "
                "across all replicas"
            )
    else:
        beyond = {shard for shard in ids if shard >= count}
        if beyond:
            problems.append(
                f"DISCORD_SHARD_IDS has shard{'s' if len(beyond) > 1 else ''} "
                f"{shard_list(beyond)}, but with DISCORD_SHARD_COUNT={count} shards "
                f"are numbered 0 to {count - 1}"
            )
    return tuple(sorted(ids)) if len(problems) == found and count is not None else None


def _slack(env: EnvSettings, problems: list[str]) -> SlackSettings | None:
    token = secret(env.slack_bot_token)
    if token is None:
        return None
    app_token, signing = secret(env.slack_app_token), secret(env.slack_signing_secret)
    if app_token is None and signing is None:
        problems.append(
            "SLACK_BOT_TOKEN is set but neither SLACK_APP_TOKEN (Socket Mode) "
            "nor SLACK_SIGNING_SECRET (HTTP mode) is"
        )
        return None
    return SlackSettings(
        bot_token=token,
        app_token=app_token,
        signing_secret=signing,
        http_port=env.slack_http_port,  # 0: any free port (logged)
        api_base=(env.slack_api_base + "/") if env.slack_api_base else DEFAULT_API_BASE,
    )


_SECRET_FIELDS = frozenset(
    {
        "imagine_database_url",
        "superduper_token",
        "comfyui_authorization",
        "discord_token",
        "slack_bot_token",
        "slack_app_token",
        "slack_signing_secret",
    }
)


def _failed_fields(exc: ValidationError) -> set[str]:
    return {str(error["loc"][0]) for error in exc.errors() if error["loc"]}


def _describe(exc: ValidationError, env_vars: Mapping[str, str]) -> list[str]:
    """One friendly line per invalid variable (a secret's value is never shown)."""
    lines = []
    for error in exc.errors():
        field_name = str(error["loc"][0]) if error["loc"] else ""
        variable = EnvSettings.variable(field_name)
        raw = env_vars.get(variable, "")
        got = "" if field_name in _SECRET_FIELDS else f" (got {raw!r})"
        kind, ctx = error["type"], error.get("ctx") or {}
        info = EnvSettings.model_fields.get(field_name)
        bounds = _bounds(info.metadata if info is not None else [])
        if kind in ("int_parsing", "int_type", "int_from_float"):
            text = "must be a whole number"
        elif kind in ("float_parsing", "float_type"):
            text = "must be a number"
        elif kind in ("greater_than_equal", "less_than_equal") and bounds:
            text = f"must be between {bounds[0]:g} and {bounds[1]:g}"
        elif kind == "literal_error":
            expected = str(ctx.get("expected", "")).replace("'", "")
            text = f"must be one of {expected}"
        elif kind == "value_error":
            text = str(ctx.get("error", error["msg"]))
        elif kind == "string_pattern_mismatch" and field_name == "imagine_replica_id":
            text = "must be 1 to 63 letters, digits, '.', '_' or '-' (a host or pod name)"
        else:
            text = str(error["msg"]).lower()
        lines.append(f"{variable} {text}{got}")
    return lines


def _bounds(metadata: list[Any]) -> tuple[float, float] | None:
    low = next((m.ge for m in metadata if hasattr(m, "ge")), None)
    high = next((m.le for m in metadata if hasattr(m, "le")), None)
    return (float(low), float(high)) if low is not None and high is not None else None
