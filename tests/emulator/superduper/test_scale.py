"""A cheap scale check: 1,000 files in flight at once all complete, with their events."""

from __future__ import annotations

import asyncio

from .helpers import (
    DEADLINE,
    StartEmulator,
    create_project,
    generate,
    http_client,
    recv_json,
    subscribe,
    ws_connect,
)

FILES = 1000
BATCH = 4


async def test_a_thousand_files_in_flight_complete_together(
    start_emulator: StartEmulator,
) -> None:
    emu = await start_emulator(gen_time=(0.5, 1.0))
    async with http_client(emu) as http, ws_connect(emu) as ws:
        project_id = await create_project(http)
        await subscribe(ws, project_id)
        batches = await asyncio.gather(
            *(generate(http, project_id, batch_size=BATCH) for _ in range(FILES // BATCH))
        )
        file_ids = {file_id for batch in batches for file_id in batch}

        completed: set[str] = set()
        progress_events = 0
        # Serially this would take many minutes (1,000 x at least 0.5 s): only files that
        # advance together can all complete within the deadline.
        async with asyncio.timeout(DEADLINE):
            while len(completed) < FILES:
                event = await recv_json(ws)
                if event["type"] == "generation.completed":
                    completed.add(event["file_id"])
                else:
                    progress_events += 1

    assert completed == file_ids
    assert progress_events == 3 * FILES
    assert all(emu.file_status(file_id) == "completed" for file_id in file_ids)
    assert set(emu.completed_at) >= file_ids
