"""Per-channel data: each backend's channel scope (SuperDuper's project), channel settings,
and the small values backends keep."""

from __future__ import annotations

from bot.jobs import ChannelKey, ChannelSettings
from tests.storage.conftest import AnyStore

KEY = ChannelKey("discord", "guild-1", "chan-1")
# Each differs from KEY in exactly one part.
NEIGHBOURS = (
    ChannelKey("slack", "guild-1", "chan-1"),
    ChannelKey("discord", "guild-2", "chan-1"),
    ChannelKey("discord", "guild-1", "chan-2"),
)


async def test_unknown_channel_has_no_scope(store: AnyStore) -> None:
    assert await store.get_scope("superduper", KEY) is None


async def test_set_scope_inserts_then_replaces(store: AnyStore) -> None:
    await store.set_scope("superduper", KEY, "proj-1")
    assert await store.get_scope("superduper", KEY) == "proj-1"

    await store.set_scope("superduper", KEY, "proj-2")
    assert await store.get_scope("superduper", KEY) == "proj-2"


async def test_scopes_are_isolated_per_backend_platform_workspace_channel(
    store: AnyStore,
) -> None:
    await store.set_scope("superduper", KEY, "proj-main")
    assert await store.get_scope("comfyui", KEY) is None
    for n, key in enumerate(NEIGHBOURS):
        assert await store.get_scope("superduper", key) is None
        await store.set_scope("superduper", key, f"proj-{n}")

    await store.set_scope("superduper", KEY, "proj-main-2")

    assert await store.get_scope("superduper", KEY) == "proj-main-2"
    assert [await store.get_scope("superduper", k) for k in NEIGHBOURS] == [
        "proj-0",
        "proj-1",
        "proj-2",
    ]


async def test_channel_settings_default_to_empty(store: AnyStore) -> None:
    assert await store.get_channel_settings(KEY) == ChannelSettings()


async def test_channel_settings_set_get_replace(store: AnyStore) -> None:
    settings = ChannelSettings(
        width=512,
        height=768,
        steps=12,
        style="anime",
        backend="comfyui",
        extra={"nsfw": "off", "lang": "日本語"},
    )
    await store.set_channel_settings(KEY, settings)
    assert await store.get_channel_settings(KEY) == settings

    # Replacing writes the whole record: fields left None go back to "use config".
    await store.set_channel_settings(KEY, ChannelSettings(style="sketch"))
    assert await store.get_channel_settings(KEY) == ChannelSettings(style="sketch")


async def test_channel_settings_are_isolated(store: AnyStore) -> None:
    await store.set_channel_settings(KEY, ChannelSettings(steps=50))
    for key in NEIGHBOURS:
        assert await store.get_channel_settings(key) == ChannelSettings()


async def test_backend_values_are_kept_and_replaced(store: AnyStore) -> None:
    assert await store.get_value("comfyui.client_id") is None
    await store.set_value("comfyui.client_id", "abc")
    await store.set_value("comfyui.client_id", "def")
    assert await store.get_value("comfyui.client_id") == "def"
