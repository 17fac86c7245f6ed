"""kill -9 the console bot while a job is in flight; the restarted bot posts it exactly once
(on SuperDuper and on ComfyUI)."""

from __future__ import annotations

import re
from pathlib import Path

from bot.jobs import Job, JobState
from storage import SqliteJobStore
from tests.support.child import Child
from tests.support.drivers import Service
from tests.support.waiting import job_in_state


async def test_a_job_in_flight_survives_kill_9_and_is_posted_once(
    service: Service, tmp_path: Path
) -> None:
    output_dir = tmp_path / "out"
    service.hold()
    env = {
        **service.child_env(),
        "IMAGINE_DB_PATH": str(tmp_path / "bot.db"),
        "IMAGINE_OUTPUT_DIR": str(output_dir),
    }
    first = await Child.start("console", "--user", "alice", env=env)
    await first.send("/imagine a fox that survives --seed 5")
    status = await first.expect("is imagining")
    match = re.search(r"job `(\w+)`", status)
    assert match is not None
    job_id = match.group(1)
    # in flight: submitted, and the service is still generating it
    submitted = await wait_until_submitted(tmp_path / "bot.db", job_id)
    assert service.working_on(submitted)
    await first.kill()

    second = await Child.start("console", "--user", "alice", env=env)
    await second.expect("resumed 1 unfinished job")
    await service.complete(submitted)
    saved = await second.expect("saved:")
    assert await second.finish() == 0

    images = sorted(output_dir.iterdir())
    assert [p.name for p in images] == [f"{job_id}-0.png"]
    assert str(images[0]) in saved
    assert images[0].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "saved:" not in first.output  # nothing was posted before the kill
    assert second.output.count("saved:") == 1


async def wait_until_submitted(db: Path, job_id: str) -> Job:
    """Read the child's database (WAL allows a second reader) until the job is submitted."""
    async with await SqliteJobStore.open(db) as store:
        return await job_in_state(store, job_id, JobState.SUBMITTED, timeout=20)
