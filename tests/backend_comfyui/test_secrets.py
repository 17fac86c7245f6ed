"""The proxy ``Authorization`` value goes with every request and handshake, and nowhere else:
not in a log record (DEBUG, every library), a repr or an error."""

from __future__ import annotations

import logging

import pytest

from bot.backend.errors import AuthRefused
from bot.backend.types import OutcomeStatus
from tests.support.comfyui import fast_settings

from .conftest import MakeBackend, StartComfy
from .helpers import connected, reference, request, submitted

SECRET = "Bearer pr0xy-s3cret-for-tests"


async def test_the_authorization_is_sent_and_never_logged(
    start_comfy: StartComfy, make_backend: MakeBackend, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    emu = await start_comfy(required_authorization=SECRET, preview_method="latent2rgb")
    backend = await make_backend([emu], authorization=SECRET)
    await connected(backend)  # the handshake carried it too

    handle = await submitted(backend, "secret", request(reference=reference()))
    outcome = await backend.wait(handle, timeout=5)
    assert outcome.status is OutcomeStatus.COMPLETED
    await backend.download(outcome.results[0])
    assert (await backend.probe()).reachable
    assert emu.counters.requests["GET /history/{prompt_id}"] >= 1
    assert emu.counters.ws_connections == 1

    emu.config.required_authorization = "Bearer another"
    with pytest.raises(AuthRefused) as caught:
        await submitted(backend, "refused")
    assert caught.value.setting == "COMFYUI_AUTHORIZATION"
    assert SECRET not in str(caught.value)

    lines = [logging.Formatter("%(name)s %(message)s").format(r) for r in caplog.records]
    handshake = [
        line for line in lines if line.startswith("websockets") and "Authorization" in line
    ]
    assert handshake, "websockets did not log its handshake: this test lost its teeth"
    assert all("[redacted]" in line for line in handshake)
    assert not [line for line in lines if "s3cret" in line]
    assert "s3cret" not in repr(backend.settings)
    assert "s3cret" not in repr(fast_settings([emu], authorization=SECRET))
