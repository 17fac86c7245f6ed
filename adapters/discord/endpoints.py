"""The one place that points discord.py at another Discord (a local fake in tests).

discord.py has no per-client setting for its endpoints: every REST URL, the
interaction callbacks included (they go through the webhook adapter, not the
client's ``HTTPClient``), is built from the class attribute
``discord.http.Route.BASE``, and a ``Client`` opens its gateway at the class
attribute ``DiscordWebSocket.DEFAULT_GATEWAY``. So an override is process-wide.
:class:`EndpointOverride` sets both while at least one adapter that asked for the
same endpoints is running, and restores discord.py's values when the last one
closes. Two adapters asking for *different* endpoints at once is refused.

The reference count lives in a module-level holder on purpose: it guards a
process-global (two class attributes of discord.py), so it has the same scope.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route


@dataclass(slots=True)
class _Active:
    api_base: str | None
    gateway_url: str | None
    saved_base: str
    saved_gateway: yarl.URL
    users: int = 0


class _Registry:
    """The single holder of the override currently applied (see module docstring)."""

    def __init__(self) -> None:
        self.active: _Active | None = None


_REGISTRY = _Registry()


def normalize_api_base(api_base: str) -> str:
    """``http://host:port`` → ``http://host:port/api/v10``; a base with ``/api/vN`` is kept."""
    base = api_base.rstrip("/")
    return base if re.search(r"/api/v\d+$", base) else f"{base}/api/v10"


class EndpointOverride:
    """Apply ``api_base`` / ``gateway_url`` (``None`` = keep Discord's) until :meth:`release`."""

    def __init__(self, api_base: str | None, gateway_url: str | None) -> None:
        self._api_base = normalize_api_base(api_base) if api_base else None
        self._gateway_url = gateway_url
        self._held = False

    @property
    def needed(self) -> bool:
        return self._api_base is not None or self._gateway_url is not None

    def acquire(self) -> None:
        if self._held or not self.needed:
            return
        active = _REGISTRY.active
        if active is None:
            active = _Active(
                self._api_base,
                self._gateway_url,
                saved_base=Route.BASE,
                saved_gateway=DiscordWebSocket.DEFAULT_GATEWAY,
            )
            if self._api_base is not None:
                Route.BASE = self._api_base
            if self._gateway_url is not None:
                DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(self._gateway_url)
            _REGISTRY.active = active
        elif (active.api_base, active.gateway_url) != (self._api_base, self._gateway_url):
            raise RuntimeError(
                "another Discord adapter in this process uses different DISCORD_API_BASE/"
                "DISCORD_GATEWAY_URL values; discord.py supports one set per process"
            )
        active.users += 1
        self._held = True

    def release(self) -> None:
        if not self._held:
            return
        self._held = False
        active = _REGISTRY.active
        if active is None:
            return
        active.users -= 1
        if active.users == 0:
            Route.BASE = active.saved_base
            DiscordWebSocket.DEFAULT_GATEWAY = active.saved_gateway
            _REGISTRY.active = None
