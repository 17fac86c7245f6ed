"""Row ↔ Job mapping, without a database."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.backend.types import ResultFile, Task
from bot.chat import ActionKind
from bot.command import ImagineParams, ReferenceSource
from bot.jobs import ChannelSettings, Job, JobState
from storage import codec

text = st.text(max_size=20)
optional_text = st.none() | text
strings = st.lists(text, max_size=4).map(tuple)

params = st.builds(
    ImagineParams,
    prompt=text,
    width=st.integers(1, 4096),
    height=st.integers(1, 4096),
    steps=st.integers(1, 200),
    style=text,
    count=st.integers(1, 4),
    negative_prompt=text,
    seed=st.none() | st.integers(0, 2**64),
    aspect_ratio=optional_text,
    task=st.sampled_from(Task),
    reference=st.none()
    | st.builds(ReferenceSource, job_id=text, index=st.integers(0, 3))
    | st.builds(ReferenceSource, url=text, filename=optional_text),
    reference_weight=st.floats(0, 1),
    seconds=st.none() | st.floats(1, 8),
)
results = st.lists(
    st.builds(
        ResultFile,
        url=optional_text,
        seed=st.none() | st.integers(0, 2**40),
        content_type=optional_text,
        error=optional_text,
    ),
    max_size=4,
).map(tuple)
timestamps = st.floats(0, 4e9, allow_nan=False)
jobs = st.builds(
    Job,
    id=text,
    platform=text,
    workspace=text,
    channel=text,
    requester_id=text,
    requester_name=text,
    params=params,
    state=st.sampled_from(JobState),
    created_at=timestamps,
    updated_at=timestamps,
    thread=optional_text,
    status_message_id=optional_text,
    version=st.integers(0, 10**6),
    backend=text,
    scope=optional_text,
    submission=optional_text,
    results=results,
    posted_message_ids=strings,
    attempts=st.integers(0, 1000),
    error=optional_text,
    notified=st.booleans(),
    parent_job_id=optional_text,
    parent_index=st.none() | st.integers(0, 3),
    action=st.none() | st.sampled_from(ActionKind),
    cancelled_by=optional_text,
    deleted_by=optional_text,
)


@given(jobs)
def test_job_round_trips_through_row(job: Job) -> None:
    row = codec.job_to_row(job)
    assert set(row) == set(codec.JOB_COLUMNS)
    assert codec.job_from_row(row) == job


def test_params_json_holds_every_field() -> None:
    p = ImagineParams("cat", 512, 512, 10, "anime", 2, "dog", 42, "1:1")
    assert json.loads(codec.params_to_json(p)) == {
        "prompt": "cat",
        "width": 512,
        "height": 512,
        "steps": 10,
        "style": "anime",
        "count": 2,
        "negative_prompt": "dog",
        "seed": 42,
        "aspect_ratio": "1:1",
        "task": "image",
        "reference": None,
        "reference_weight": 0.5,
        "seconds": None,
    }


def test_params_from_older_or_newer_writers() -> None:
    # A missing optional field takes its default; an unknown one is ignored.
    text = json.dumps(
        {"prompt": "p", "width": 1, "height": 2, "steps": 3, "style": "s", "future": True}
    )
    assert codec.params_from_json(text) == ImagineParams("p", 1, 2, 3, "s")


@pytest.mark.parametrize(
    ("column", "value", "fragment"),
    [
        ("state", "exploded", "exploded"),
        ("params", '{"prompt": "only"}', "ImagineParams"),
        ("posted_message_ids", '"not-a-list"', "posted_message_ids"),
        ("results", "[1, 2]", "results"),
        ("results", '[{"seed": 1}]', "ResultFile"),
        ("action", "levitate", "levitate"),
    ],
)
def test_malformed_rows_raise_value_error(column: str, value: str, fragment: str) -> None:
    row = codec.job_to_row(
        Job(
            "bad001",
            "p",
            "w",
            "c",
            "u",
            "n",
            ImagineParams("x", 1, 1, 1, "s"),
            JobState.ACCEPTED,
            1,
            1,
        )
    )
    row[column] = value
    with pytest.raises(ValueError, match=fragment) as info:
        codec.job_from_row(row)
    assert "bad001" in str(info.value)


def test_settings_round_trip() -> None:
    settings = ChannelSettings(
        width=1, height=None, steps=3, style=None, backend="comfyui", extra={"k": "v"}
    )
    assert codec.settings_from_row(codec.settings_to_row(settings)) == settings
