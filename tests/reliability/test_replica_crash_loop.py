"""Three ``imagine-bot run`` replicas on one PostgreSQL, Slack in HTTP mode behind a
load balancer; kill -9 random replicas at seeded moments and restart them (under the
same replica id and under a fresh one): every command is one job, posted once or failed
with its requester told, one generation per image, one writer per job at a time (the
long run: ``python -m tests.reliability.replica_crash_loop``)."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime

from PIL import Image

from bot.command import ImagineParams
from bot.jobs import Job, JobState
from storage.codec import Row
from tests.reliability.replica_crash_loop import (
    ReplicaLoopConfig,
    ReplicaReport,
    check_history,
    check_slack,
    run_replica_loop,
)
from tests.slack.fakes.slack_api import BOT_USER, TEAM, FakeSlack


async def test_replicas_survive_repeated_kill_9_each_job_posted_once_by_one_holder(
    postgres_url: str,
) -> None:
    config = ReplicaLoopConfig(jobs=24, kills=4, seed=3)

    report = await run_replica_loop(config, postgres_url)

    assert report.problems == [], report.summary()
    assert len(report.kills) == 4
    assert {k.restart for k in report.kills} == {"same id", "fresh id"}
    assert report.takeovers, "no kill left jobs behind: the loop lost its teeth"
    assert sum(report.final.values()) == 24
    assert report.image_messages == report.final["posted"] >= 12
    assert report.handovers >= 1  # a dead replica's jobs really moved to another one
    # Reported, not a latency target: a lease (3 s) plus a heartbeat, with room for a
    # loaded machine.
    assert report.takeovers[-1] < 30, report.summary()


@dataclass(frozen=True)
class Ran:
    replica_id: str
    started_at: float
    gone_at: float

    def ran_at(self, at: float) -> bool:
        return self.started_at <= at <= self.gone_at


def posted_job(job_id: str, thread: str) -> Job:
    params = ImagineParams(
        prompt=f"replica loop {job_id}", width=256, height=256, steps=20, style="default"
    )
    return Job(
        id=job_id,
        platform="slack",
        workspace=TEAM,
        channel="C1",
        requester_id="U1",
        requester_name="u1",
        params=params,
        state=JobState.POSTED,
        created_at=1.0,
        updated_at=2.0,
        thread=thread,
        notified=True,
    )


def png(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height)).save(out, "PNG")
    return out.getvalue()


def write(version: int, states: str, owners: str, writer: str) -> Row:
    """A ``job_transitions`` row of job j1: ``states`` and ``owners`` as ``old>new``."""
    (old_state, new_state), (old_owner, new_owner) = states.split(">"), owners.split(">")
    return {
        "job_id": "j1",
        "old_version": version,
        "new_version": version + 1,
        "old_state": old_state,
        "new_state": new_state,
        "old_owner": old_owner,
        "new_owner": new_owner,
        "writer": writer,
        "at": datetime.fromtimestamp(10.0 + version, UTC),
    }


def test_the_checks_see_an_image_posted_twice_and_a_job_advanced_by_two_replicas() -> None:
    """The loop's checks can fail: a second image message of one job, a state change
    written by a replica that did not hold the job, and a claim that also moved the job
    on, are each reported."""
    slack = FakeSlack()
    thread = slack.post_user_message("C1", BOT_USER, "status · job `j1`").ts
    shared = []
    for _ in range(2):
        image = slack.add_user_file(BOT_USER, "imagine-j1-1.png", png(256, 256), "image/png")
        slack.post_user_message("C1", BOT_USER, "caption", thread_ts=thread, files=[image.id])
        shared.append(image.id)
    buttons = slack.post_user_message("C1", BOT_USER, "What next?", thread_ts=thread)
    payload = {"dedupe_key": "j1:0", "file_id": shared[0]}
    buttons.metadata = {"event_type": "imagine_result", "event_payload": payload}
    report = ReplicaReport(jobs=1, replicas=2)

    check_slack(report, slack, [posted_job("j1", thread)])
    history = [
        write(1, "accepted>prepared", "a>a", writer="a"),
        write(2, "prepared>submitting", "a>a", writer="b"),
        write(3, "submitting>submitted", "a>b", writer="b"),
    ]
    check_history(report, history, [Ran("a", 0.0, 100.0), Ran("b", 0.0, 100.0)], {"j1": 1.0})

    assert report.problems == [
        "job j1 was posted 2 times",
        "job j1 v3 by b: written for a",
        "job j1 v4 by b: took the job from a and moved it",
    ]
