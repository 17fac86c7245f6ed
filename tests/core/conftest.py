"""The core's end-to-end tests run on both image services: a test that takes ``service``
runs once on SuperDuper and once on ComfyUI (ids ``superduper``, ``comfyui``); one that
takes ``emulator`` (the root conftest) is about SuperDuper only, one that takes ``comfyui``
about ComfyUI only."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.support.drivers import SERVICES, ComfyUIDriver, Service, open_comfyui, open_service


@pytest.fixture(params=SERVICES, ids=list(SERVICES))
async def service(request: pytest.FixtureRequest) -> AsyncIterator[Service]:
    async with open_service(request.param) as driver:
        yield driver


@pytest.fixture
async def comfyui() -> AsyncIterator[ComfyUIDriver]:
    async with open_comfyui() as driver:
        yield driver
