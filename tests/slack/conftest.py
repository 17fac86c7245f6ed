from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.slack.fakes.slack_api import FakeSlack


@pytest.fixture
async def fake_slack() -> AsyncIterator[FakeSlack]:
    async with FakeSlack() as fake:
        yield fake
