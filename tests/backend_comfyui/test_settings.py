"""Settings: hosts from COMFYUI_URL(S), validation naming the setting, the secret kept out."""

from __future__ import annotations

from typing import Any

import pytest

from bot.backend.comfyui import ComfyUISettings, urls_from


def test_urls_come_from_comfyui_urls_or_else_comfyui_url() -> None:
    assert urls_from("http://gpu1:8188/", None) == ("http://gpu1:8188",)
    assert urls_from("http://ignored:1", " http://gpu1:8188, http://gpu2:8188 ,") == (
        "http://gpu1:8188",
        "http://gpu2:8188",
    )
    assert urls_from(None, "  ") == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"urls": ()}, "COMFYUI_URLS (or COMFYUI_URL) must name at least one host"),
        ({"urls": ("gpu1:8188",)}, "is not an http:// or https:// URL"),
        ({"urls": ("http://user:pw@gpu1:8188",)}, "put credentials in COMFYUI_AUTHORIZATION"),
        ({"urls": ("http://a:1", "http://a:1")}, "names a host twice"),
        ({"checkpoint": " "}, "COMFYUI_CHECKPOINT must name a checkpoint file"),
        ({"authorization": "Bearer x\r\nX-Evil: 1"}, "COMFYUI_AUTHORIZATION must be one"),
        ({"poll_interval_min": 0}, "poll_interval_min must be positive"),
        ({"reconcile_spread": -1}, "reconcile_spread must not be negative"),
        ({"retry_attempts": 0}, "retry_attempts must be at least 1"),
    ],
)
def test_invalid_settings_are_refused_naming_what_to_fix(
    changes: dict[str, Any], message: str
) -> None:
    values: dict[str, Any] = {"urls": ("http://gpu1:8188",), "checkpoint": "sd15.safetensors"}
    with pytest.raises(ValueError) as caught:
        ComfyUISettings(**{**values, **changes})
    assert message in str(caught.value)


def test_the_authorization_is_not_in_the_repr() -> None:
    settings = ComfyUISettings(
        ("http://gpu1:8188",), "sd15.safetensors", authorization="Basic c2s="
    )
    assert "c2s" not in repr(settings)
    assert settings.auth_headers() == {"Authorization": "Basic c2s="}
