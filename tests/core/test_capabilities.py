"""What the core offers follows what the channel's backend declares: a real backend (on
SuperDuper and on ComfyUI) that declares fewer capabilities gets fewer buttons, and what it
cannot do is refused privately before anything reaches the service."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from bot import messages
from bot.backend.types import Capability
from bot.chat import ActionInvocation, ActionKind, Attachment, Invocation, Requester
from bot.jobs import JobState
from tests.support.capabilities import without
from tests.support.drivers import Service
from tests.support.harness import invocation, open_harness
from tests.support.recording_chat import RecordingChat


def with_attachment(text: str, url: str) -> Invocation:
    plain = invocation(text)
    attached = (Attachment(url, "red.png", "image/png"),)
    return Invocation(plain.conversation, plain.requester, plain.text, attachments=attached)


async def test_no_videos_here_refuses_animate_privately_and_offers_no_animate_button(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    no_video = without(Capability.VIDEO)
    async with open_harness(service, tmp_path / "bot.db", [chat], wrap_backend=no_video) as h:
        assert await h.bot.animate(invocation("a fox running")) is None
        [note] = chat.notes
        assert note.user_id == "U1" and note.text == messages.video_not_offered(service.name)
        assert chat.threads == [] and service.requests() == 0

        job = await h.bot.wait_for(await h.bot.imagine(invocation("a still fox")) or "")
        assert job is not None and job.state is JobState.POSTED
        [image] = chat.images
        press = ActionInvocation(
            image.where, Requester("U1", "u1"), ActionKind.ANIMATE, job.id, image.message_id, 0
        )
        await h.bot.act(press)  # a stale Animate button from before, say

    assert [a.kind for a in image.actions] == [
        ActionKind.VARY_SUBTLE,
        ActionKind.VARY_STRONG,
        ActionKind.UPSCALE,
        ActionKind.REMIX,
        ActionKind.REROLL,
        ActionKind.DELETE,
    ]
    assert chat.notes[1].text == messages.not_offered(ActionKind.ANIMATE, service.name)
    assert len(chat.images) == 1
    assert service.submissions(video=True) == 0


async def test_without_image_references_no_vary_upscale_or_grid_buttons_and_no_attachments(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    source = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 30, 30)).save(source, "PNG")
    chat.files["https://files.test/red.png"] = source.getvalue()
    no_refs = without(Capability.IMAGE_REFERENCES)
    async with open_harness(service, tmp_path / "bot.db", [chat], wrap_backend=no_refs) as h:
        assert (
            await h.bot.imagine(with_attachment("a fox like this", "https://files.test/red.png"))
            is None
        )
        [note] = chat.notes
        assert note.text == messages.attachment_needs_references(service.name)
        assert chat.threads == [] and chat.fetched == []

        single = await h.bot.wait_for(await h.bot.imagine(invocation("one fox")) or "")
        batch = await h.bot.wait_for(await h.bot.imagine(invocation("two foxes --n 2")) or "")

    assert single is not None and batch is not None
    one, grid = chat.images
    assert [a.kind for a in one.actions] == [ActionKind.REMIX, ActionKind.REROLL, ActionKind.DELETE]
    assert [a.label for a in grid.actions] == ["Re-roll", "Delete"]
    assert service.submissions() == 2  # the two that were allowed
