"""Record the scenarios against a running ComfyUI into ``fixtures/`` (data only).

``python -m tests.emulator.comfyui.record http://127.0.0.1:8188 [scenario ...]``
"""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path

import httpx

from .probe import Probe
from .scenarios import SCENARIOS

FIXTURES = Path(__file__).parent / "fixtures"


async def record(base_url: str, names: list[str]) -> None:
    async with httpx.AsyncClient(base_url=base_url, trust_env=False, timeout=120) as http:
        for name in names or list(SCENARIOS):
            observed = await SCENARIOS[name](Probe(base_url, http))
            path = FIXTURES / f"{name}.json"
            path.write_text(json.dumps(observed, indent=1, ensure_ascii=False) + "\n")
            print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(record(sys.argv[1], sys.argv[2:]))
