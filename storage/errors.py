"""Errors the stores raise, worded for the operator who has to fix them."""

from __future__ import annotations

import sqlite3

import asyncpg

from bot.store import StoreError

# Extra advice per SQLite primary result code name (``SQLITE_FULL_xxx`` → ``SQLITE_FULL``).
_HINTS = {
    "SQLITE_FULL": "the disk (or the user's quota) is full; free space and retry",
    "SQLITE_BUSY": (
        "the database stayed locked by another connection longer than busy_timeout; "
        "is a second imagine-bot (or a long manual query) using the same file?"
    ),
    "SQLITE_LOCKED": "a table is locked by another statement on the same connection",
    "SQLITE_READONLY": "the file or its directory is read-only for this process",
    "SQLITE_CANTOPEN": "cannot open the file; check that the directory exists and is writable",
    "SQLITE_IOERR": "the operating system reported an I/O error; check the disk",
    "SQLITE_CORRUPT": "the file is corrupt; restore it from a backup",
    "SQLITE_NOTADB": "the file is not an SQLite database; check IMAGINE_DB_PATH",
    "SQLITE_PERM": "permission denied; check the file's owner and mode",
}


class StorageError(StoreError):
    """An operational failure of the job store: disk full, locked, unreadable, ...

    ``path`` is the database file, ``operation`` what the store was doing, ``code`` the
    SQLite error name (e.g. ``"SQLITE_FULL"``) when known. ``str(exc)`` names all three
    plus a hint, so it can go straight into a log line.
    """

    def __init__(self, message: str, *, path: str, operation: str, code: str | None = None) -> None:
        super().__init__(message)
        self.path = path
        self.operation = operation
        self.code = code

    @classmethod
    def from_sqlite(cls, exc: sqlite3.Error, *, path: str, operation: str) -> StorageError:
        """Wrap a ``sqlite3`` exception (raise the result ``from exc``)."""
        code: str | None = getattr(exc, "sqlite_errorname", None)
        message = f"SQLite {operation} failed on {path!r}: {exc}"
        if code:
            message += f" ({code})"
            hint = _HINTS.get(_primary(code))
            if hint:
                message += f" - {hint}"
        return cls(message, path=path, operation=operation, code=code)


# Advice per PostgreSQL SQLSTATE, most specific first (a class is its first two characters).
_PG_HINTS = (
    ("28", "the server refused the login; check the user and password in IMAGINE_DATABASE_URL"),
    ("3D000", "that database does not exist; create it, or fix IMAGINE_DATABASE_URL"),
    ("42501", "the user lacks a privilege on the database or its tables"),
    ("53", "the server is out of resources (disk, memory or connections)"),
    ("57", "the server is shutting down, restarting or cancelled the query; retry later"),
    ("08", "the connection to the server failed; is PostgreSQL up and reachable?"),
    ("40", "a concurrent transaction conflicted (deadlock or serialization); retry"),
)
_CONNECTION_HINT = "cannot reach the server; is PostgreSQL up and IMAGINE_DATABASE_URL right?"

PostgresFailure = (
    asyncpg.PostgresError,
    asyncpg.InterfaceError,
    # e.g. a connection the server just terminated (a failover) used before asyncpg saw
    # it close: "cannot switch to state …; another operation is in progress"
    asyncpg.InternalClientError,
    OSError,
    TimeoutError,
)
"""What the PostgreSQL store turns into :class:`StorageError`."""


def postgres_error(exc: BaseException, *, location: str, operation: str) -> StorageError:
    """Wrap an asyncpg (or socket) failure; ``location`` is the URL without its password."""
    code: str | None = getattr(exc, "sqlstate", None)
    text = str(exc) or type(exc).__name__
    message = f"PostgreSQL {operation} failed on {location}: {text}"
    if code:
        message += f" (SQLSTATE {code})"
        hint = next((h for prefix, h in _PG_HINTS if code.startswith(prefix)), None)
    else:
        hint = _CONNECTION_HINT if isinstance(exc, OSError | TimeoutError) else None
    if hint:
        message += f" - {hint}"
    return StorageError(message, path=location, operation=operation, code=code)


class SchemaVersionError(StorageError):
    """The database was written by a newer imagine-bot than this one."""

    def __init__(
        self,
        *,
        path: str,
        found: int,
        latest: int,
        elsewhere: str = "IMAGINE_DB_PATH at another file",
    ) -> None:
        super().__init__(
            f"database {path!r} has schema version {found}, but this imagine-bot only "
            f"knows versions up to {latest}; upgrade imagine-bot, or point {elsewhere}",
            path=path,
            operation="schema check",
        )
        self.found = found
        self.latest = latest


class DatabaseInUseError(StorageError):
    """Another process holds the SQLite file's lock (``exclusive`` open): it would run the
    same jobs a second time."""

    def __init__(self, *, path: str, holder: str | None) -> None:
        by = f" (pid {holder})" if holder else ""
        super().__init__(
            f"database {path!r} is in use by another imagine-bot process{by}: only one "
            "process may run the jobs of an SQLite file, or they would run twice. Stop the "
            "other process first, or point IMAGINE_DB_PATH at another file; for several "
            "replicas use PostgreSQL (IMAGINE_DATABASE_URL)",
            path=path,
            operation="lock",
        )
        self.holder = holder


class ReplicaInUseError(StorageError):
    """Another process runs as the same replica on this PostgreSQL database: both would
    pass each other's fences and run the same jobs."""

    def __init__(self, *, owner: str, location: str) -> None:
        super().__init__(
            f"replica id {owner!r} is in use by another imagine-bot process on {location}: "
            "give each replica its own IMAGINE_REPLICA_ID (or leave it unset: the host "
            "name and process id)",
            path=location,
            operation="lock",
        )
        self.owner = owner


class StoreClosedError(StorageError):
    """The store was used after :meth:`SqliteJobStore.aclose`."""


def _primary(code: str) -> str:
    """``SQLITE_IOERR_WRITE`` → ``SQLITE_IOERR``; extended codes share the primary's hint."""
    parts = code.split("_")
    return "_".join(parts[:2])
