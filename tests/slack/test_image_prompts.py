"""Image prompts on Slack: an image shared with a mention, or picked with the message
shortcut *Imagine from this image*, is what the image service starts from. The bot
downloads ``url_private`` with its token, only from Slack's own file host, and never
more than the core allows."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from PIL import Image

from adapters.slack.views import IMAGE_SHORTCUT, IMAGE_VIEW
from bot.chat import Attachment, DeliveryError
from bot.jobs import JobState
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_TOKEN, BOT_USER, TRIGGER_LIFETIME, FakeSlack, Message
from tests.slack.fakes.slack_side import mention_event, shortcut_payload
from tests.slack.wiring import Mode, SlackBot, slack_bot
from tests.support.clock import ManualClock
from tests.support.superduper import file_ids


def png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(out, "PNG")
    return out.getvalue()


def share_image(fake: FakeSlack, text: str, *, user: str = "U2", name: str = "red.png") -> Message:
    """``user`` posts ``text`` with a PNG attached (as Slack shows that message)."""
    stored = fake.add_user_file(user, name, png(), "image/png")
    return fake.post_user_message("C1", user, text, files=[stored.id])


async def mention_with(run: SlackBot, message: Message, files: list[dict[str, object]]) -> None:
    event = mention_event(message.text, ts=message.ts, user=message.user, files=files)
    assert (await run.side.event(event)).status == 200


class Elsewhere:
    """A web server that is not Slack (another port on loopback): it counts every visit."""

    def __init__(self) -> None:
        self.visits: list[dict[str, str]] = []
        self.url = ""

    async def _any(self, request: web.Request) -> web.Response:
        self.visits.append(dict(request.headers))
        return web.Response(body=png(), content_type="image/png")


@pytest.fixture
async def elsewhere() -> AsyncIterator[Elsewhere]:
    server = Elsewhere()
    app = web.Application()
    app.router.add_get("/{tail:.*}", server._any)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    server.url = f"http://127.0.0.1:{runner.addresses[0][1]}/cat.png"
    try:
        yield server
    finally:
        await runner.cleanup()


async def test_an_image_shared_with_a_mention_is_what_the_service_starts_from(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = share_image(fake_slack, f"<@{BOT_USER}> a fox in this light --iw 1.6")
        await mention_with(run, said, [fake_slack.file_object(said.files[0])])
        [result] = await run.wait_results("C1", said.ts, 1)
        await run.harness.bot.drain()
        job = await run.job_of(result)

    assert job.state is JobState.POSTED and job.params.prompt == "a fox in this light"
    reference, weight = emulator.reference_of(file_ids(job)[0])
    assert reference == png() and weight == 0.8
    downloads = fake_slack.calls_to("file")
    assert downloads and all(c.token == BOT_TOKEN and c.status == 200 for c in downloads)
    assert not any(BOT_TOKEN in r.getMessage() for r in caplog.records)  # never logged


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_the_message_shortcut_asks_for_a_prompt_and_imagines_from_the_image(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", mode=mode) as run:
        shared = share_image(fake_slack, "what about this one?", name="sunset.png")
        payload = shortcut_payload(fake_slack, shared, callback_id=IMAGE_SHORTCUT, user="U3")
        ack = await run.side.action(payload)
        assert (ack.status, ack.raw) == (200, "")
        view = await run.wait_view()
        assert (view.user, view.callback_id) == ("U3", IMAGE_VIEW)
        assert "sunset.png" in json.dumps(view.view["blocks"])

        await run.submit(view, "a fox in this light --seed 5")
        [result] = await run.wait_results("C1", shared.ts, 1)  # in the image's thread
        await run.harness.bot.drain()
        job = await run.job_of(result)

    assert job.requester_id == "U3" and job.params.prompt == "a fox in this light"
    assert emulator.reference_of(file_ids(job)[0])[0] == png()
    status = next(m for m in fake_slack.thread("C1", shared.ts) if "is imagining" in m.text)
    assert status.thread_ts == shared.ts and "<@U3> is imagining" in status.text


async def test_the_shortcut_on_a_message_without_an_image_says_so_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        plain = fake_slack.post_user_message("C1", "U2", "just words")
        payload = shortcut_payload(fake_slack, plain, callback_id=IMAGE_SHORTCUT, name="no-img")
        assert (await run.side.action(payload)).status == 200
        answer = await fake_slack.response("no-img")
    assert answer["response_type"] == "ephemeral"
    assert answer["text"].startswith("That message has no image I can use.")
    assert fake_slack.views == [] and fake_slack.calls_to("views.open") == []


async def test_a_shortcut_that_reached_the_bot_too_late_says_to_try_again(
    emulator: Emulator, fake_slack: FakeSlack, slack_clock: ManualClock, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        shared = share_image(fake_slack, "this one")
        payload = shortcut_payload(fake_slack, shared, callback_id=IMAGE_SHORTCUT, name="late")
        slack_clock.advance(TRIGGER_LIFETIME + 0.5)
        assert (await run.side.action(payload)).status == 200
        answer = await fake_slack.response("late")
        assert fake_slack.views == [] and len(fake_slack.calls_to("views.open")) == 1
    assert (
        answer["text"]
        == "Slack didn't let me open the form in time. Please try the shortcut again."
    )


async def test_a_file_on_another_host_is_refused_privately_and_never_fetched(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, elsewhere: Elsewhere
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> a fox like this")
        forged = {"id": "F0FORGED", "name": "cat.png", "mimetype": "image/png", "size": 9}
        await mention_with(run, said, [{**forged, "url_private": elsewhere.url}])
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert await run.harness.store.unfinished_jobs() == []

    assert (note.user, note.thread_ts) == ("U2", None)  # where the mention was written
    assert note.text.startswith(
        "I couldn't use the image you attached (cat.png): I only download images from "
        "Slack's own file host, and this one is on 127.0.0.1."
    )
    assert elsewhere.visits == []  # the token never left for another host
    assert emulator.counters.requests["POST /api/generation/image"] == 0


async def test_a_redirect_off_slack_is_not_followed(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, elsewhere: Elsewhere
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = share_image(fake_slack, f"<@{BOT_USER}> a fox like this")
        fake_slack.file_redirects[said.files[0]] = elsewhere.url
        await mention_with(run, said, [fake_slack.file_object(said.files[0])])
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals

    assert "Slack sent the download elsewhere (127.0.0.1)" in note.text
    assert elsewhere.visits == []
    assert [c.status for c in fake_slack.calls_to("file")] == [302]


async def test_without_files_read_the_user_is_told_what_the_app_lacks(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.scopes.discard("files:read")  # installed from an older manifest
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        said = share_image(fake_slack, f"<@{BOT_USER}> a fox like this")
        await mention_with(run, said, [fake_slack.file_object(said.files[0])])
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert await run.harness.store.unfinished_jobs() == []
    assert "needs the files:read permission" in note.text


async def test_a_download_never_reads_more_than_allowed(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db") as run:
        port = run.adapter.port
        stored = fake_slack.add_user_file("U2", "big.png", png(), "image/png")
        url = fake_slack.url_private(stored.id)
        small = len(png()) - 1

        with pytest.raises(DeliveryError, match="too large") as declared:
            await port.fetch_attachment(Attachment(url, size=10 * 1024 * 1024), 1024 * 1024)
        assert fake_slack.calls_to("file") == []  # refused by its declared size alone
        with pytest.raises(DeliveryError, match="too large"):
            await port.fetch_attachment(Attachment(url), small)  # no size declared
        assert await port.fetch_attachment(Attachment(url), len(png())) == png()
    assert "10.0 MB" in str(declared.value) and "1.0 MB" in str(declared.value)
    assert declared.value.permanent
