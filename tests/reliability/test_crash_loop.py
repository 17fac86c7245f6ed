"""kill -9 the console bot at seeded random moments through a batch of jobs; nothing is
lost and nothing is posted twice (the long run: ``python -m tests.reliability.crash_loop``)."""

from __future__ import annotations

from pathlib import Path

from tests.reliability.crash_loop import CrashLoopConfig, run_crash_loop


async def test_every_job_survives_repeated_kill_9_posted_once_or_failed_with_a_reason(
    tmp_path: Path,
) -> None:
    config = CrashLoopConfig(jobs=24, kills=4, seed=3)

    report = await run_crash_loop(config, tmp_path)

    assert report.problems == [], report.summary()
    assert report.kills == 4
    assert report.kills_in_flight >= 1, "no kill interrupted any work: the loop lost its teeth"
    assert sum(report.final.values()) == 24
    assert report.images == report.final["posted"] >= 12
