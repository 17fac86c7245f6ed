"""Logging set-up: one line per record on stderr (plain text, or JSON with
``IMAGINE_LOG_FORMAT=json``), the job id on every line logged while a job runs, chatty
HTTP loggers tamed, and every configured secret redacted from the whole output
(tracebacks included)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from datetime import UTC, datetime

from bot.logctx import current_job

REDACTED = "[redacted]"
NOISY_LOGGERS = ("httpx", "httpcore", "websockets", "aiosqlite", "discord.http", "slack_sdk")


class Redactor:
    """Replaces any configured secret in a text (defence in depth: the code never logs
    secrets on purpose)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text


class TextFormatter(logging.Formatter):
    """``time LEVEL logger: [job abc123] message``, redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s")
        self._redact = redact

    def formatMessage(self, record: logging.LogRecord) -> str:
        job = current_job.get()
        if job is not None and job not in record.message:
            record.message = f"[job {job}] {record.message}"
        return super().formatMessage(record)

    def format(self, record: logging.LogRecord) -> str:
        return self._redact(super().format(record))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, job_id, and the
    traceback when there is one; redacted."""

    def __init__(self, redact: Redactor) -> None:
        super().__init__()
        self._redact = redact

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "job_id": current_job.get(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return self._redact(json.dumps(entry, ensure_ascii=False))


class KnownNoise(logging.Filter):
    """Drops library warnings that ask the operator for nothing: discord.py's notice that
    voice support is off (the bot never joins voice)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "discord.client" and "voice will NOT be supported" in record.getMessage()
        )


def configure_logging(level: str, secrets: Iterable[str | None], fmt: str = "text") -> None:
    redact = Redactor(secrets)
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter(redact) if fmt == "json" else TextFormatter(redact))
    handler.addFilter(KnownNoise())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
