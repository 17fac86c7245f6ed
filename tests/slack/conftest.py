from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.slack.fakes.slack_api import FakeSlack
from tests.support.clock import ManualClock


@pytest.fixture
def slack_clock() -> ManualClock:
    """The fake Slack's clock: trigger ids expire only when a test moves it (no test
    depends on how fast the machine is)."""
    return ManualClock()


@pytest.fixture
async def fake_slack(slack_clock: ManualClock) -> AsyncIterator[FakeSlack]:
    async with FakeSlack(clock=slack_clock) as fake:
        yield fake
