"""The emulator against what a real ComfyUI 0.3.64 answered (``fixtures/``, recorded with
``record.py``): same scenarios, same keys, shapes, values and event order once ids,
timestamps and file counters are normalised."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from .conftest import StartComfy
from .probe import Probe, canonical
from .scenarios import SCENARIOS

FIXTURES = Path(__file__).parent / "fixtures"
RECORDED_CHECKPOINT = "fake-sd15.safetensors"
"""The checkpoint name the real server had (a random-weight SD1.5 file)."""
HELD = frozenset({"queue_and_interrupt", "reused_prompt_id"})
"""Scenarios whose only samplers are slow jobs they interrupt. On the real CPU server such a
job made one step while the scenario asked its questions (steps took seconds); here its
sampler holds after that step until the interrupt (``manual_completion``), so no second
step can land in between however slow the machine, instead of racing ``step_time``."""


def recorded(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


@pytest.mark.parametrize("name", sorted(SCENARIOS))
async def test_scenario_matches_the_real_server(start_comfy: StartComfy, name: str) -> None:
    emu = await start_comfy(
        checkpoints=(RECORDED_CHECKPOINT,),
        step_time=0.05,
        load_time=0.3,  # an interrupt right after the start lands in the model load
        preview_method="latent2rgb",
        manual_completion=name in HELD,
    )
    async with httpx.AsyncClient(base_url=emu.base_url, trust_env=False, timeout=10) as http:
        observed = await SCENARIOS[name](Probe(emu.base_url, http))
    assert canonical(observed) == canonical(recorded(name))
