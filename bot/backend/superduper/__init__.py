"""The SuperDuper API backend: async HTTP client, hybrid WebSocket/poll watcher, safe download."""

from bot.backend.superduper.backend import SuperDuperBackend
from bot.backend.superduper.client import SuperDuperClient, make_http_client
from bot.backend.superduper.settings import SuperDuperSettings, ws_url_for
from bot.backend.superduper.watcher import HybridWatcher

__all__ = [
    "HybridWatcher",
    "SuperDuperBackend",
    "SuperDuperClient",
    "SuperDuperSettings",
    "make_http_client",
    "ws_url_for",
]
