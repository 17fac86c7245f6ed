"""Fault matrix, result side: a result URL or image the bot must not fetch or post ends
the job with a clear reason in its thread, and the unsafe place is never contacted."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.backend.helpers import png_bytes, png_claiming
from tests.support.harness import fast_service, invocation, open_harness
from tests.support.recording_chat import RecordingChat
from tests.support.tcp import TcpTrap

MEDIA_ROUTE = "GET /media/{name}"


async def failed_with(emulator: Emulator, tmp_path: Path, *reason: str, **service: object) -> None:
    """Run one /imagine; it must fail with every part of ``reason`` said in its thread."""
    chat = RecordingChat()
    settings = fast_service(emulator, **service)
    async with open_harness(emulator, tmp_path / "bot.db", [chat], service=settings) as h:
        job = await h.bot.wait_for(await h.bot.imagine(invocation("a fox far away")) or "")
    assert job is not None and job.state is JobState.FAILED
    assert chat.images == []
    [(where, text)] = chat.texts
    assert where == chat.threads[0].conversation
    assert job.id in text and "could not be fetched safely" in text
    for part in reason:
        assert part in text


async def test_a_result_url_on_a_foreign_host_is_refused_before_connecting(
    emulator: Emulator, tmp_path: Path
) -> None:
    async with TcpTrap() as elsewhere:
        emulator.config.result_url_base = elsewhere.url
        await failed_with(emulator, tmp_path, "another host")
        assert elsewhere.connections == 0
    assert emulator.counters.requests[MEDIA_ROUTE] == 0


async def test_a_file_url_is_refused(emulator: Emulator, tmp_path: Path) -> None:
    emulator.config.result_url_base = "file://"
    await failed_with(emulator, tmp_path, "file:")


async def test_a_redirect_to_another_host_is_refused_before_connecting(
    emulator: Emulator, tmp_path: Path
) -> None:
    async with TcpTrap() as elsewhere:
        emulator.config.redirect_media_to = f"{elsewhere.url}/steal"
        await failed_with(emulator, tmp_path, "another host")
        assert elsewhere.connections == 0
    assert emulator.counters.requests[MEDIA_ROUTE] == 1


async def test_a_redirect_to_the_link_local_metadata_address_is_refused_at_once(
    emulator: Emulator, tmp_path: Path
) -> None:
    emulator.config.redirect_media_to = "http://169.254.169.254/latest/meta-data/"
    # A connection attempt could take up to connect_timeout, far past the deadline: ending
    # within it (with the refusal's own reason) means nothing was tried.
    async with asyncio.timeout(10.0):
        await failed_with(
            emulator, tmp_path, "another host (169.254.169.254)", connect_timeout=60.0
        )


@pytest.mark.parametrize(
    ("body", "content_type", "reason", "cap"),
    [
        pytest.param(png_bytes(64, 64) + b"\0" * 30_000, "image/png", "limit", 20_000, id="bytes"),
        pytest.param(png_claiming(100_000, 100_000), "image/png", "bomb", None, id="pixel-bomb"),
        pytest.param(b"<html>sign in</html>", "text/html", "not an image", None, id="html"),
    ],
)
async def test_an_unsafe_image_is_refused_with_the_reason(
    emulator: Emulator,
    tmp_path: Path,
    body: bytes,
    content_type: str,
    reason: str,
    cap: int | None,
) -> None:
    emulator.config.image_override = body
    emulator.config.image_content_type = content_type
    limits = {"max_download_bytes": cap} if cap else {}
    await failed_with(emulator, tmp_path, reason, **limits)
