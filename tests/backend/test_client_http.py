"""The HTTP client against the emulator: projects, submission, error mapping, retries."""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import format_datetime

import pytest

from bot.backend.errors import AuthRefused, BackendUnavailable, InvalidRequest
from bot.backend.superduper.errors import ProjectNotFound
from emulator.superduper import Emulator
from tests.support.superduper import FileApi

from .conftest import MakeBackend
from .helpers import FILE_ROUTE, GENERATE_ROUTE, PROJECTS_ROUTE, RecordingSleep, request


async def test_the_same_idempotency_key_yields_the_same_project(
    emu: Emulator, backend: FileApi
) -> None:
    first = await backend.create_project(title="#art", idempotency_key="slack:T1:C1")
    again = await backend.create_project(title="#art", idempotency_key="slack:T1:C1")
    other = await backend.create_project(title="#art", idempotency_key="slack:T1:C2")

    assert first == again != other
    assert set(emu.projects) == {first, other}
    assert await backend.project_exists(first)
    assert not await backend.project_exists("00000000-0000-4000-8000-000000000000")


async def test_a_batch_submission_returns_every_file(backend: FileApi) -> None:
    files = await backend.submit(request(count=3), project_id=None)

    assert len({f.id for f in files}) == 3
    assert all(f.project_id is None for f in files)


async def test_a_deleted_project_raises_project_not_found_without_retrying(
    emu: Emulator, backend: FileApi
) -> None:
    project_id = await backend.create_project(title="t", idempotency_key="k")
    emu.delete_project(project_id)

    with pytest.raises(ProjectNotFound):
        await backend.submit(request(), project_id=project_id)
    assert emu.counters.requests[GENERATE_ROUTE] == 1
    assert not await backend.project_exists(project_id)


async def test_invalid_fields_raise_invalid_request_with_the_service_message(
    emu: Emulator, backend: FileApi
) -> None:
    with pytest.raises(InvalidRequest) as caught:
        await backend.submit(request(width=10, steps=0), project_id=None)

    message = str(caught.value)
    assert "width" in message and "steps" in message
    assert isinstance(caught.value.details, list) and len(caught.value.details) == 2
    assert emu.counters.requests[GENERATE_ROUTE] == 1


async def test_a_wrong_token_raises_auth_refused_at_once(emu: Emulator, backend: FileApi) -> None:
    emu.config.token = "rotated"

    with pytest.raises(AuthRefused) as caught:
        await backend.create_project(title="t", idempotency_key="k")
    assert emu.counters.requests[PROJECTS_ROUTE] == 1
    assert "rotated" not in str(caught.value)


async def test_a_503_burst_is_retried_with_jittered_backoff(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    emu.config.http_5xx_rate = 1.0

    def burst_ends(sleeps: int) -> None:
        if sleeps == 2:
            emu.config.http_5xx_rate = 0.0

    sleep = RecordingSleep(burst_ends)
    backend = await make_backend(sleep=sleep, retry_base=0.5, retry_cap=10.0)

    project_id = await backend.create_project(title="t", idempotency_key="k")

    assert project_id in emu.projects
    assert emu.counters.requests[PROJECTS_ROUTE] == 3
    assert len(sleep.delays) == 2
    assert 0 <= sleep.delays[0] <= 0.5 and 0 <= sleep.delays[1] <= 1.0


async def test_a_503_on_generation_is_retried_because_it_never_started_work(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    emu.config.http_5xx_rate = 1.0
    sleep = RecordingSleep(lambda n: setattr(emu.config, "http_5xx_rate", 0.0))
    backend = await make_backend(sleep=sleep)

    files = await backend.submit(request(), project_id=None)

    assert len(files) == 1
    assert emu.counters.requests[GENERATE_ROUTE] == 2


async def test_exhausted_retries_raise_backend_unavailable(
    emu: Emulator, make_backend: MakeBackend
) -> None:
    emu.config.http_5xx_rate = 1.0
    sleep = RecordingSleep()
    backend = await make_backend(sleep=sleep, retry_attempts=3)

    with pytest.raises(BackendUnavailable) as caught:
        await backend.client.file_status("f-1")
    assert "503" in str(caught.value)
    assert emu.counters.requests[FILE_ROUTE] == 3
    assert len(sleep.delays) == 2


@pytest.mark.parametrize(
    ("retry_after", "expected"),
    [("1", 1.0), ("2.5", 2.5), ("-3", 0.0), ("3600", 5.0)],
)
async def test_429_honours_retry_after_seconds(
    emu: Emulator, make_backend: MakeBackend, retry_after: str, expected: float
) -> None:
    emu.config.http_429_rate = 1.0
    emu.config.retry_after = retry_after
    sleep = RecordingSleep(lambda n: setattr(emu.config, "http_429_rate", 0.0))
    backend = await make_backend(sleep=sleep, retry_after_cap=5.0)

    await backend.submit(request(), project_id=None)

    assert sleep.delays == [expected]
    assert emu.counters.requests[GENERATE_ROUTE] == 2


@pytest.mark.parametrize(("offset", "expected"), [(7, 7.0), (-30, 0.0)])
async def test_429_honours_retry_after_http_dates(
    emu: Emulator, make_backend: MakeBackend, offset: int, expected: float
) -> None:
    now = 1_750_000_000.0
    emu.config.http_429_rate = 1.0
    emu.config.retry_after = format_datetime(datetime.fromtimestamp(now + offset, UTC), usegmt=True)
    sleep = RecordingSleep(lambda n: setattr(emu.config, "http_429_rate", 0.0))
    backend = await make_backend(sleep=sleep, wall_clock=lambda: now, retry_after_cap=60.0)

    assert await backend.project_exists("00000000-0000-4000-8000-000000000000") is False

    assert sleep.delays == [expected]
