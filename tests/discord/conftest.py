from __future__ import annotations

import warnings
from collections.abc import AsyncIterator

import pytest

# discord.py imports the stdlib ``audioop`` (voice support), deprecated since 3.11;
# filterwarnings=error would turn that import into a collection error. Import it
# once here with that one warning silenced (pyproject could carry the same filter).
with warnings.catch_warnings():
    warnings.filterwarnings("ignore", "'audioop' is deprecated", DeprecationWarning)
    import discord  # noqa: F401

from tests.discord.fake import FakeDiscord


@pytest.fixture
async def fake() -> AsyncIterator[FakeDiscord]:
    async with FakeDiscord() as server:
        yield server
