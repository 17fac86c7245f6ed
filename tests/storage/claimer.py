"""A replica in a process of its own, for test_leases: opens the PostgreSQL store at
``$IMAGINE_DATABASE_URL`` as ``OWNER``, says ``ready``, claims at the line ``go`` and
prints the claimed ids as one JSON line.

``python -m tests.storage.claimer OWNER``"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from storage import PostgresJobStore


async def main(owner: str) -> None:
    async with await PostgresJobStore.open(os.environ["IMAGINE_DATABASE_URL"], owner=owner) as s:
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        claimed = await s.claim_unfinished()
        print(json.dumps([job.id for job in claimed.jobs]), flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1]))
