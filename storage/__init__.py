"""Persistence for the core's :class:`bot.store.JobStore`: SQLite (aiosqlite, one process)
or PostgreSQL (asyncpg, several replicas)."""

from storage.errors import (
    DatabaseInUseError,
    ReplicaInUseError,
    SchemaVersionError,
    StorageError,
    StoreClosedError,
)
from storage.postgres_store import PostgresJobStore, redact_url, url_secrets
from storage.sqlite_store import SqliteJobStore, StoreDiagnostics

open_store = SqliteJobStore.open

__all__ = [
    "DatabaseInUseError",
    "PostgresJobStore",
    "ReplicaInUseError",
    "SchemaVersionError",
    "SqliteJobStore",
    "StorageError",
    "StoreClosedError",
    "StoreDiagnostics",
    "open_store",
    "redact_url",
    "url_secrets",
]
