"""Logging set-up: plain lines on stderr, chatty HTTP loggers tamed, secrets redacted."""

from __future__ import annotations

import logging
from collections.abc import Iterable

REDACTED = "[redacted]"
NOISY_LOGGERS = ("httpx", "httpcore", "websockets", "aiosqlite", "discord.http", "slack_sdk")


class SecretRedactor(logging.Filter):
    """Replaces any configured secret in a record's final message (defence in depth:
    the code never logs secrets on purpose)."""

    def __init__(self, secrets: Iterable[str | None]) -> None:
        super().__init__()
        self._secrets = sorted({s for s in secrets if s and len(s) >= 6}, key=len, reverse=True)

    def filter(self, record: logging.LogRecord) -> bool:
        if not self._secrets:
            return True
        message = record.getMessage()
        cleaned = message
        for secret in self._secrets:
            cleaned = cleaned.replace(secret, REDACTED)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class KnownNoise(logging.Filter):
    """Drops library warnings that ask the operator for nothing: discord.py's notice that
    voice support is off (the bot never joins voice)."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (
            record.name == "discord.client" and "voice will NOT be supported" in record.getMessage()
        )


def configure_logging(level: str, secrets: Iterable[str | None]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(KnownNoise())
    handler.addFilter(SecretRedactor(secrets))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(max(logging.WARNING, root.level))
