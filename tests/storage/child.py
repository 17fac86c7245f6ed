"""A second process for the storage tests.

``python -m tests.storage.child claim OWNER``: open the PostgreSQL store at
``$IMAGINE_DATABASE_URL`` as ``OWNER``, say ``ready``, claim at the line ``go`` and print
the claimed ids as one JSON line.

``python -m tests.storage.child hold PATH``: open the SQLite file at ``PATH`` with
``exclusive=True``, say ``ready`` and hold it until stdin closes; if it is refused,
print the error and exit 3."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from storage import DatabaseInUseError, PostgresJobStore, SqliteJobStore


async def claim(owner: str) -> None:
    async with await PostgresJobStore.open(os.environ["IMAGINE_DATABASE_URL"], owner=owner) as s:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        claimed = await s.claim_unfinished()
        print(json.dumps([job.id for job in claimed.jobs]), flush=True)


async def hold(path: str) -> int:
    try:
        store = await SqliteJobStore.open(path, exclusive=True)
    except DatabaseInUseError as exc:
        print(exc, flush=True)
        return 3
    async with store:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.read)
    return 0


if __name__ == "__main__":
    command, argument = sys.argv[1:3]
    sys.exit(asyncio.run(hold(argument)) if command == "hold" else asyncio.run(claim(argument)))
