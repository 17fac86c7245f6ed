"""Reading what ComfyUI sends: WebSocket frames and history entries (hostile input included)."""

from __future__ import annotations

import json
import struct
from collections.abc import Sequence

from bot.backend.comfyui import events
from bot.backend.comfyui.outputs import outcome_of
from bot.backend.types import OutcomeStatus

JPEG = b"\xff\xd8\xff\xe0 jpeg body"
PNG = b"\x89PNG\r\n\x1a\n png body"


def _frame(event: int, image_format: int, body: bytes) -> bytes:
    return struct.pack(">II", event, image_format) + body


def test_binary_previews_are_read_by_type_and_format_and_checked() -> None:
    assert events.parse(_frame(1, 1, JPEG)) == events.Preview(JPEG, "image/jpeg")
    assert events.parse(_frame(1, 2, PNG)) == events.Preview(PNG, "image/png")
    assert events.parse(_frame(1, 1, PNG)) is None  # declared JPEG, is not
    assert events.parse(_frame(4, 0, JPEG)) is None  # with metadata: not negotiated
    assert events.parse(_frame(3, 1, JPEG)) is None  # text progress
    assert events.parse(b"\x00\x00") is None


def _text(kind: str, **data: object) -> str:
    return json.dumps({"type": kind, "data": data})


def test_text_events_are_read_and_junk_is_ignored() -> None:
    status = {"exec_info": {"queue_remaining": 3}}
    assert events.parse(_text("status", status=status, sid="x")) == events.QueueStatus(3)
    assert events.parse(_text("progress", value=2, max=4, prompt_id="p")) == events.JobEvent(
        "progress", "p", percent=50
    )
    assert events.parse(_text("executing", node=None, prompt_id="p")) == events.JobEvent(
        "executing", "p", finished=True
    )
    assert events.parse(_text("executing", node="3", prompt_id="p")) == events.JobEvent(
        "executing", "p"
    )
    error = events.parse(
        _text("execution_error", prompt_id="p", node_type="KSampler", exception_message="OOM\n")
    )
    assert error == events.JobEvent("execution_error", "p", finished=True, error="OOM in KSampler")
    for junk in (
        "not json",
        "[1, 2]",
        _text("executing", node="4"),  # a reconnect's replay names no prompt
        _text("progress", value=1, max=0, prompt_id="p"),
        _text("progress", value=True, max=4, prompt_id="p"),
        _text("status", status={"exec_info": {"queue_remaining": -1}}),
        _text("executed", node="9", output={}, prompt_id="p"),
        json.dumps({"type": "execution_success", "data": "p"}),
    ):
        assert events.parse(junk) is None, junk


def _entry(
    status: str, outputs: dict[str, object], messages: Sequence[object] | None = None
) -> dict[str, object]:
    return {
        "outputs": outputs,
        "status": {"status_str": status, "completed": status == "success", "messages": messages},
    }


def _view(file: object) -> str:
    return f"http://gpu1/view?{json.dumps(file, sort_keys=True)}"


def test_saved_images_are_the_results_each_with_its_seed_and_missing_ones_are_reported() -> None:
    saved = [{"filename": f"a_{i}.png", "subfolder": "", "type": "output"} for i in range(2)]
    entry = _entry(
        "success",
        {
            "9": {"images": saved, "text": ["not a file"]},
            "4": {"images": [{"filename": "p.png", "subfolder": "", "type": "temp"}]},
        },
    )

    outcome = outcome_of(entry, view_url=_view, seed=10, expected=3)

    assert outcome.status is OutcomeStatus.COMPLETED
    assert [(r.ok, r.seed, r.content_type) for r in outcome.results] == [
        (True, 10, "image/png"),
        (True, 11, "image/png"),
        (False, 12, None),
    ]
    assert outcome.results[2].error == "the workflow made fewer images than asked"


def test_a_failed_or_interrupted_job_says_why() -> None:
    error = [
        "execution_error",
        {"node_type": "KSampler", "exception_message": "CUDA out of memory\n"},
    ]
    failed = outcome_of(_entry("error", {}, [error]), view_url=_view, seed=1, expected=1)
    assert failed.status is OutcomeStatus.FAILED
    assert failed.reason == "CUDA out of memory (in KSampler)"

    stopped = [["execution_interrupted", {"node_id": "3"}]]
    interrupted = outcome_of(_entry("error", {}, stopped), view_url=_view, seed=1, expected=1)
    assert interrupted.reason == "it was stopped on the GPU server"

    nothing = outcome_of(_entry("success", {}), view_url=_view, seed=None, expected=1)
    assert nothing.status is OutcomeStatus.FAILED
    assert nothing.reason == "the workflow finished without saving an image"
