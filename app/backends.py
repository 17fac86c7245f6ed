"""The backend registry: which image services this process can use, built from settings.

Adding a backend means one entry here (and its settings in ``app/config.py``); the core
only ever sees the neutral ``ImageBackend`` protocol."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import httpx

from app.config import Settings
from bot.backend.comfyui import CLIENT_ID_KEY, ComfyUIBackend, ComfyUISettings
from bot.backend.protocol import ImageBackend
from bot.backend.superduper import SuperDuperBackend, SuperDuperSettings
from bot.store import ValueStore

Build = Callable[[httpx.AsyncClient, ValueStore], ImageBackend]
"""Makes the backend with the process's shared HTTP client and the store's values."""


@dataclass(frozen=True, slots=True)
class BackendSpec:
    name: str
    build: Build
    setting: str
    """The variable an operator sets to point the backend elsewhere (for messages)."""


def superduper_spec(service: SuperDuperSettings) -> BackendSpec:
    def build(http: httpx.AsyncClient, values: ValueStore) -> ImageBackend:
        return SuperDuperBackend(service, http=http)

    return BackendSpec("superduper", build, "SUPERDUPER_URL")


def comfyui_spec(service: ComfyUISettings, client_id_key: str = CLIENT_ID_KEY) -> BackendSpec:
    """ComfyUI; its stable client id is kept under ``client_id_key`` in the store (one key
    per replica, or their sockets would knock each other off)."""

    def build(http: httpx.AsyncClient, values: ValueStore) -> ImageBackend:
        return ComfyUIBackend(service, http, values=values, client_id_key=client_id_key)

    return BackendSpec("comfyui", build, "COMFYUI_URLS")


def configured_backends(settings: Settings) -> list[BackendSpec]:
    """Every backend the settings configure, the default one first."""
    specs = []
    if settings.superduper is not None:
        specs.append(superduper_spec(settings.superduper))
    if settings.comfyui is not None:
        store = settings.store
        key = f"{CLIENT_ID_KEY}:{store.replica_id}" if store.shared else CLIENT_ID_KEY
        specs.append(comfyui_spec(settings.comfyui, key))
    return sorted(specs, key=lambda spec: spec.name != settings.backend)
