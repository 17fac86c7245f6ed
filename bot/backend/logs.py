"""Keep credentials out of third-party library logs (shared by every backend)."""

from __future__ import annotations

import logging
from collections.abc import MutableMapping
from typing import Any

SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie"})
REDACTED = "[redacted]"


class HeaderRedactingAdapter(logging.LoggerAdapter[logging.Logger]):
    """A logger for ``websockets`` that masks credential headers in its handshake dumps.

    At DEBUG, websockets logs every handshake header as ``"> %s: %s" % (name, value)``, the
    ``Authorization: Bearer ...`` line included; this adapter replaces such values."""

    def __init__(self, logger: logging.Logger) -> None:
        super().__init__(logger, {})

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        return msg, kwargs

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if (
            len(args) == 2
            and isinstance(args[0], str)
            and args[0].strip().lower() in SENSITIVE_HEADERS
        ):
            args = (args[0], REDACTED)
        super().log(level, msg, *args, **kwargs)
