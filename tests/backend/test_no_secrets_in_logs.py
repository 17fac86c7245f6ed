"""The bearer token never reaches a log record, even at DEBUG across whole flows."""

from __future__ import annotations

import logging

import pytest

from bot.backend.errors import AuthRefused
from bot.backend.superduper.files import WaitOutcome
from emulator.superduper import Emulator

from .conftest import MakeBackend
from .helpers import TOKEN, request


async def test_no_log_record_carries_the_token(
    emu: Emulator, make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    formatter = logging.Formatter("%(name)s %(message)s")
    backend = await make_backend()

    project_id = await backend.create_project(title="t", idempotency_key="k")
    [file] = await backend.submit(request(), project_id=project_id)
    result = await backend.wait(file.id, project_id, timeout=5)
    assert result.outcome is WaitOutcome.COMPLETED and result.file and result.file.url
    await backend.download(result.file.url)

    emu.config.ws_reject_401 = True
    refused = await make_backend()
    [other] = await refused.submit(request(), project_id=project_id)
    assert (await refused.wait(other.id, project_id, timeout=5)).outcome is WaitOutcome.COMPLETED
    emu.config.token = "another-token"
    with pytest.raises(AuthRefused):
        await refused.create_project(title="t", idempotency_key="k2")

    lines = [formatter.format(record) for record in caplog.records]
    handshake = [
        line for line in lines if line.startswith("websockets") and "Authorization" in line
    ]
    assert handshake, "websockets did not log its handshake: this test lost its teeth"
    assert all("[redacted]" in line for line in handshake)
    # The shared client sends without httpx's per-request line (full URLs at INFO).
    assert not any("HTTP Request" in line for line in lines)
    assert not [line for line in lines if TOKEN in line]
