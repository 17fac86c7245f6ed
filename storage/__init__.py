"""SQLite persistence for the core's :class:`bot.store.JobStore` (aiosqlite)."""

from storage.errors import SchemaVersionError, StorageError, StoreClosedError
from storage.sqlite_store import SqliteJobStore, StoreDiagnostics

open_store = SqliteJobStore.open

__all__ = [
    "SchemaVersionError",
    "SqliteJobStore",
    "StorageError",
    "StoreClosedError",
    "StoreDiagnostics",
    "open_store",
]
