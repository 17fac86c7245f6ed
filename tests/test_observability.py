"""What an operator reads: JSON log lines that name their job, secrets redacted even in
tracebacks, and Prometheus metrics of what the bot did."""

from __future__ import annotations

import io
import json
import logging
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from app.logs import JsonFormatter, Redactor, TextFormatter
from app.metrics import Metrics
from emulator.superduper import Emulator
from tests.support.harness import invocation, open_harness
from tests.support.recording_chat import RecordingChat

SECRET = "service-token-that-must-not-leak"


@pytest.fixture
def captured_json() -> Iterator[io.StringIO]:
    out = io.StringIO()
    handler = logging.StreamHandler(out)
    handler.setFormatter(JsonFormatter(Redactor([SECRET])))
    root = logging.getLogger()
    root.addHandler(handler)
    level = root.level
    root.setLevel(logging.INFO)
    try:
        yield out
    finally:
        root.removeHandler(handler)
        root.setLevel(level)


async def test_json_log_lines_carry_the_job_id(
    emulator: Emulator, tmp_path: Path, captured_json: io.StringIO
) -> None:
    chat = RecordingChat()
    async with open_harness(emulator, tmp_path / "bot.db", [chat]) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a logged fox")) or "")
    assert job is not None
    entries = [json.loads(line) for line in captured_json.getvalue().splitlines()]
    transitions = [e for e in entries if e["message"].startswith(f"job {job.id} →")]
    assert [e["message"].split("→ ")[1] for e in transitions][-1] == "posted"
    assert transitions and all(e["job_id"] == job.id for e in transitions)
    assert {"time", "level", "logger", "message", "job_id"} <= set(entries[0])


def test_a_secret_in_a_traceback_is_redacted_in_both_formats() -> None:
    record = _failing_record()
    for formatter in (JsonFormatter(Redactor([SECRET])), TextFormatter(Redactor([SECRET]))):
        text = formatter.format(record)
        assert SECRET not in text and "[redacted]" in text and "Traceback" in text


def _failing_record() -> logging.LogRecord:
    try:
        raise RuntimeError(f"refused token {SECRET}")
    except RuntimeError:
        return logging.LogRecord("bot", logging.ERROR, __file__, 1, "boom", None, sys.exc_info())


async def test_metrics_count_what_happened(emulator: Emulator, tmp_path: Path) -> None:
    metrics = Metrics()
    chat = RecordingChat()
    emulator.config.failure_rate = 0.0
    async with open_harness(emulator, tmp_path / "bot.db", [chat], telemetry=metrics) as h:
        metrics.watch(h.bot.backends, lambda: h.bot.load)
        await h.bot.wait_for(await h.bot.imagine(invocation("a counted fox")) or "")
        emulator.config.failure_rate = 1.0
        await h.bot.wait_for(await h.bot.imagine(invocation("a failing fox")) or "")
        page = metrics.render().decode()

    assert 'imagine_job_transitions_total{backend="superduper",state="posted"} 1.0' in page
    assert 'imagine_job_transitions_total{backend="superduper",state="failed"} 1.0' in page
    assert 'imagine_post_seconds_count{backend="superduper"} 1.0' in page
    assert "imagine_jobs_waiting 0.0" in page and "imagine_jobs_running 0.0" in page
    polls = next(
        line for line in page.splitlines() if line.startswith("imagine_status_polls_total")
    )
    assert float(polls.rsplit(" ", 1)[1]) >= 2  # each job's completion was confirmed over HTTP
