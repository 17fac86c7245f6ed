"""Opt-in: the same scenarios against a real ComfyUI and the emulator, compared.

Set ``COMFYUI_REAL_URL`` (e.g. ``http://127.0.0.1:8188``) to a real ComfyUI 0.3.x that has a
checkpoint and runs with ``--preview-method latent2rgb``; see docs/comfyui-emulator.md.
"""

from __future__ import annotations

import os

import httpx
import pytest

from .conftest import StartComfy
from .probe import Probe, canonical
from .scenarios import SCENARIOS, checkpoint

REAL_URL = os.environ.get("COMFYUI_REAL_URL", "")
pytestmark = pytest.mark.skipif(not REAL_URL, reason="COMFYUI_REAL_URL is not set")


@pytest.mark.timeout(900)
@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_emulator_answers_like_the_real_server(start_comfy: StartComfy, name: str) -> None:
    async with httpx.AsyncClient(base_url=REAL_URL, trust_env=False, timeout=300) as real_http:
        real = Probe(REAL_URL, real_http)
        ckpt = await checkpoint(real)
        emu = await start_comfy(
            checkpoints=(ckpt,), step_time=0.05, load_time=0.3, preview_method="latent2rgb"
        )
        async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False, timeout=10) as http:
            emulated = await SCENARIOS[name](Probe(emu.base_url, http))
        observed = await SCENARIOS[name](real)
    assert canonical(emulated) == canonical(observed)
