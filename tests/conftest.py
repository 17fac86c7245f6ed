from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from emulator.superduper import Emulator
from tests.support.harness import emulator_config
from tests.support.postgres import postgres_cluster, postgres_url

__all__ = ["postgres_cluster", "postgres_url"]  # one throwaway cluster for the whole session


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(emulator_config()) as emu:
        yield emu
