"""Access control and fairness in config: every refusal is a clear private message,
and nothing refused reaches the image service (SuperDuper or ComfyUI)."""

from __future__ import annotations

from pathlib import Path

from bot.access import AccessConfig
from bot.chat import ActionInvocation, ActionKind, Requester
from bot.jobs import ChannelKey, ChannelSettings
from tests.support.drivers import Service
from tests.support.harness import fast_bot_config, invocation, open_harness
from tests.support.recording_chat import RecordingChat


async def test_a_channel_outside_the_allow_list_is_refused(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    config = fast_bot_config(access=AccessConfig(allowed_channels=frozenset({"C-art"})))
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        assert await h.bot.imagine(invocation("a fox", channel="C-random")) is None
        assert "not enabled in this channel" in chat.notes[-1].text
        assert await h.bot.imagine(invocation("a fox", channel="C-art")) is not None
        await h.bot.drain()
        assert len(chat.images) == 1


async def test_users_pass_by_name_or_by_role_and_others_are_refused(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    access = AccessConfig(allowed_users=frozenset({"U-ann"}), allowed_roles=frozenset({"R-art"}))
    async with open_harness(
        service, tmp_path / "bot.db", [chat], config=fast_bot_config(access=access)
    ) as h:
        refused = invocation("a fox", user="U-bob")
        assert await h.bot.imagine(refused) is None
        assert chat.notes[-1].user_id == "U-bob"
        assert "Ask an admin for access" in chat.notes[-1].text
        assert service.requests() == 0

        by_role = invocation("a fox", user="U-cat", roles=frozenset({"R-art"}))
        assert await h.bot.imagine(by_role) is not None
        assert await h.bot.imagine(invocation("a fox", user="U-ann")) is not None
        await h.bot.drain()
        assert len(chat.images) == 2


async def test_a_banned_word_is_refused_but_a_longer_word_containing_it_is_not(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    config = fast_bot_config(access=AccessConfig(banned_words=("gore",)))
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        assert await h.bot.imagine(invocation("a fox, GORE everywhere")) is None
        assert "blocked word (“GORE”)" in chat.notes[-1].text
        assert service.requests() == 0
        assert await h.bot.imagine(invocation("a fox in a gorge")) is not None
        await h.bot.drain()


async def test_the_per_user_rate_limit_refuses_the_extra_job_and_reroll(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    config = fast_bot_config(access=AccessConfig(rate_limit_jobs=2, rate_limit_window=600))
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        first = await h.bot.imagine(invocation("fox one"))
        assert await h.bot.imagine(invocation("fox two", channel="C2")) is not None
        assert await h.bot.imagine(invocation("fox three")) is None
        assert "limit of 2 images per 10 min" in chat.notes[-1].text
        assert await h.bot.imagine(invocation("another user's fox", user="U2")) is not None
        await h.bot.drain()
        image = chat.images[0]
        await h.bot.act(
            ActionInvocation(
                image.where, Requester("U1", "u1"), ActionKind.REROLL, first or "", "m"
            )
        )
        assert "limit of 2 images" in chat.notes[-1].text
        await h.bot.drain()
        assert len(chat.images) == 3
        assert service.submissions() == 3


async def test_only_admins_can_see_or_change_channel_settings(
    service: Service, tmp_path: Path
) -> None:
    chat = RecordingChat()
    config = fast_bot_config(access=AccessConfig(admin_users=frozenset({"U-boss"})))
    async with open_harness(service, tmp_path / "bot.db", [chat], config=config) as h:
        key = ChannelKey("test", "W1", "C1")
        await h.bot.configure(invocation("size=512x512", user="U-member"))
        assert "Only admins" in chat.notes[-1].text
        assert await h.store.get_channel_settings(key) == ChannelSettings()

        await h.bot.configure(invocation("size=512x768 steps=12 style=anime", user="U-boss"))
        assert "Saved" in chat.notes[-1].text and "512×768" in chat.notes[-1].text
        await h.bot.configure(invocation("", user="U-mod", is_admin=True))
        assert "style anime" in chat.notes[-1].text

        await h.bot.configure(invocation("steps=500", user="U-boss"))
        assert "steps must be a whole number from 1 to 100" in chat.notes[-1].text
        await h.bot.configure(invocation("colour=blue", user="U-boss"))
        assert "size=WxH" in chat.notes[-1].text
        stored = await h.store.get_channel_settings(key)
        assert (stored.width, stored.height, stored.steps, stored.style) == (512, 768, 12, "anime")

        await h.bot.configure(invocation("reset", user="U-boss"))
        assert await h.store.get_channel_settings(key) == ChannelSettings()
