"""One sqlite3 connection served by one thread, with group commit.

A write autocommitted on its own costs one thread round trip and, with
``synchronous=FULL``, one fsync: 2.2 ms of wall time on the benchmark machine's disk,
serialised, so a few hundred jobs a second queue their writes behind each other. Here
writes that arrive while a commit is under way wait for the next one and go together in
one transaction (one round trip, one fsync); each statement's own outcome (its row count
or its error) goes to its caller. Nothing is weakened: a write's call returns only once
its transaction is committed (and fsynced), exactly as in autocommit. A statement that
fails (a constraint) is rolled back alone, as SQLite does; an error that ends the whole
transaction (I/O, a full disk, a lock held elsewhere) fails every write of the batch —
none of them was committed.

Reads run on the same thread in arrival order, so they never see a batch half-applied."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import sqlite3
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
Args = Sequence[object]


@dataclass(slots=True)
class _Write:
    statement: str
    args: Args
    done: asyncio.Future[int]


def apply_batch(
    conn: sqlite3.Connection, batch: Sequence[tuple[str, Args]]
) -> list[int | Exception]:
    """Run ``batch`` in one transaction (a lone statement autocommits); each entry's row
    count, or the exception that refused it."""
    if len(batch) == 1:
        statement, args = batch[0]
        try:
            return [conn.execute(statement, args).rowcount]
        except Exception as exc:
            return [exc]
    try:
        conn.execute("BEGIN IMMEDIATE")
    except Exception as exc:
        return [exc] * len(batch)
    outcomes: list[int | Exception] = []
    for statement, args in batch:
        try:
            outcomes.append(conn.execute(statement, args).rowcount)
        except Exception as exc:
            if not conn.in_transaction:  # the error rolled the whole transaction back
                return [exc] * len(batch)
            outcomes.append(exc)
    try:
        conn.execute("COMMIT")
    except Exception as exc:
        if conn.in_transaction:
            with contextlib.suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
        return [exc] * len(batch)
    return outcomes


def _apply_to(batch: Sequence[tuple[str, Args]], conn: sqlite3.Connection) -> list[int | Exception]:
    return apply_batch(conn, batch)


class SqliteThread:
    """``conn`` (opened with ``check_same_thread=False``) is used by this one thread only."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite")
        self._queue: list[_Write] = []
        self._committer: asyncio.Task[None] | None = None
        self.commits = 0
        """Transactions committed by ``write`` (introspection for tests and the bench)."""

    async def call(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """``fn(conn)`` on the connection's thread."""
        return await asyncio.get_running_loop().run_in_executor(self._executor, fn, self._conn)

    async def fetch(self, statement: str, args: Args = ()) -> list[sqlite3.Row]:
        rows: list[sqlite3.Row] = await self.call(lambda c: c.execute(statement, args).fetchall())
        return rows

    async def write(self, statement: str, args: Args = ()) -> int:
        """Run one write in the next group commit; its row count once committed."""
        done: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._queue.append(_Write(statement, args, done))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_queued(), name="sqlite-commit")
        return await done  # a caller cancelled meanwhile: its write still runs, unreported

    async def _commit_queued(self) -> None:
        try:
            while self._queue:
                batch, self._queue = self._queue, []
                statements = [(w.statement, w.args) for w in batch]
                try:
                    outcomes = await self.call(functools.partial(_apply_to, statements))
                except BaseException as exc:  # the thread is gone (closing): nothing ran
                    for w in batch:
                        if not w.done.done():
                            w.done.set_exception(exc)
                    raise
                self.commits += 1
                for w, outcome in zip(batch, outcomes, strict=True):
                    if w.done.done():
                        continue
                    if isinstance(outcome, Exception):
                        w.done.set_exception(outcome)
                    else:
                        w.done.set_result(outcome)
        finally:
            self._committer = None

    async def close(self) -> None:
        """Let queued writes commit, close the connection, stop the thread."""
        committer = self._committer
        if committer is not None:
            await asyncio.gather(committer, return_exceptions=True)
        try:
            await self.call(lambda c: c.close())
        finally:
            self._executor.shutdown(wait=False)
