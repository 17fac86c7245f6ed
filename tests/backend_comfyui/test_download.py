"""Downloads: only from the job's host, within the size and pixel caps, as checked images."""

from __future__ import annotations

import pytest

from bot.backend.errors import DownloadRefused
from bot.backend.types import OutcomeStatus, ResultFile
from emulator.comfyui import ComfyEmulator

from .conftest import MakeBackend, StartComfy
from .helpers import request, submitted


async def test_an_output_is_fetched_as_the_host_serves_it(
    comfy: ComfyEmulator, make_backend: MakeBackend
) -> None:
    backend = await make_backend()
    outcome = await backend.wait(await submitted(backend, "fetch"), timeout=5)
    assert outcome.status is OutcomeStatus.COMPLETED

    media = await backend.download(outcome.results[0])

    assert (media.format, media.width, media.height) == ("PNG", 64, 64)
    saved = [v for (kind, _, _), v in comfy.files.files.items() if kind == "output"]
    assert media.data in saved


async def test_an_output_elsewhere_or_over_the_caps_is_refused(
    start_comfy: StartComfy, make_backend: MakeBackend
) -> None:
    emu, other = await start_comfy(), await start_comfy()
    backend = await make_backend([emu], max_pixels=64 * 63)
    outcome = await backend.wait(await submitted(backend, "big", request()), timeout=5)
    [result] = outcome.results
    assert result.url is not None

    with pytest.raises(DownloadRefused, match="over the 4032-pixel limit"):
        await backend.download(result)
    for elsewhere in (result.url.replace(emu.base_url, other.base_url), "file:///etc/passwd"):
        with pytest.raises(DownloadRefused, match="not on a ComfyUI host"):
            await backend.download(ResultFile(elsewhere, 42))
    assert other.counters.requests["GET /view"] == 0
