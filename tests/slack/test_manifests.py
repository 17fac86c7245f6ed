"""The two app manifests ask for the same commands, shortcut, scopes and events, exactly
what the adapter listens for; the HTTP one points every request URL at ``/slack/events``;
the guide explains every command, scope and event."""

from __future__ import annotations

import re

from adapters.slack.adapter import COMMANDS, EVENTS_PATH, GROUP_EVENTS
from adapters.slack.directory import GROUPS_SCOPE, USERS_SCOPE
from adapters.slack.views import IMAGE_SHORTCUT
from tests.slack.fakes.manifest import (
    DOCS,
    HTTP_MANIFEST,
    SOCKET_MANIFEST,
    bot_events,
    bot_scopes,
    commands,
    shortcut_callback_ids,
)


def test_both_manifests_ask_for_the_same_scopes_and_events() -> None:
    assert bot_scopes(SOCKET_MANIFEST) == bot_scopes(HTTP_MANIFEST)
    assert bot_events(SOCKET_MANIFEST) == bot_events(HTTP_MANIFEST)
    assert {GROUPS_SCOPE, USERS_SCOPE, "files:read"} <= bot_scopes(SOCKET_MANIFEST)
    assert {"app_mention", *GROUP_EVENTS} == bot_events(SOCKET_MANIFEST)


def test_both_manifests_declare_every_command_and_the_shortcut() -> None:
    for manifest in (SOCKET_MANIFEST, HTTP_MANIFEST):
        assert commands(manifest) == list(COMMANDS)
        assert shortcut_callback_ids(manifest) == [IMAGE_SHORTCUT]


def test_the_http_manifest_sends_everything_to_the_events_path() -> None:
    socket_mode = SOCKET_MANIFEST.read_text(encoding="utf-8")
    http = HTTP_MANIFEST.read_text(encoding="utf-8")
    assert "socket_mode_enabled: true" in socket_mode and "url:" not in socket_mode
    assert "socket_mode_enabled: false" in http
    urls = re.findall(r"^\s*(?:request_)?url: (\S+)$", http, flags=re.MULTILINE)
    # every slash command, event subscriptions, interactivity (buttons, modals, shortcut)
    assert urls == [f"https://bot.example.com{EVENTS_PATH}"] * (len(COMMANDS) + 2)


def test_the_guide_explains_every_command_scope_and_event() -> None:
    guide = (DOCS / "slack.md").read_text(encoding="utf-8")
    for name in bot_scopes() | bot_events() | set(COMMANDS):
        assert f"`{name}" in guide, name
    assert "Imagine from this image" in guide
