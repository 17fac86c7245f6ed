"""Which store a process opens: SQLite at ``IMAGINE_DB_PATH`` (one process holds the
file), or PostgreSQL at ``IMAGINE_DATABASE_URL`` (replicas, each with its own id)."""

from __future__ import annotations

import os
import socket
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from storage import PostgresJobStore, SqliteJobStore, redact_url


def default_replica_id() -> str:
    """The host name and process id: unique per process, and stable across restarts of
    a container (where the process is pid 1), so a restarted one takes its jobs back at
    once instead of waiting out their leases."""
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class StoreSettings:
    db_path: Path = Path("imagine-bot.db")
    database_url: SecretStr | None = field(default=None, repr=False)
    replica_id: str = field(default_factory=default_replica_id)
    lease_seconds: float = 30.0

    @property
    def shared(self) -> bool:
        return self.database_url is not None

    def describe(self) -> str:
        """Where the jobs are kept, without the database password."""
        if self.database_url is None:
            return f"SQLite at {self.db_path}"
        return f"PostgreSQL at {redact_url(self.database_url.get_secret_value())}"


async def open_store(settings: StoreSettings) -> SqliteJobStore | PostgresJobStore:
    """Open (and migrate) the configured store. ``StorageError`` (one line, no secret)
    when it cannot be used: the server unreachable, the SQLite file held by another
    process, the replica id in use."""
    if settings.database_url is None:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
        return await SqliteJobStore.open(settings.db_path, exclusive=True)
    return await PostgresJobStore.open(
        settings.database_url.get_secret_value(),
        owner=settings.replica_id,
        lease_seconds=settings.lease_seconds,
    )
