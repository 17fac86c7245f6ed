"""Who a Slack user is for the core's access rules: the user groups they belong to
(``Requester.roles``, matched against ``IMAGINE_ALLOWED_ROLES``) and whether they are a
workspace admin or owner (``Requester.is_admin``).

Cost: the whole workspace's group table comes from one ``usergroups.list`` call with
``include_users`` (Tier 2) and serves every user until it expires or a ``subteam_*``
event says it changed; ``usergroups.users.list`` would cost one call per group. Admin
flags come from one ``users.info`` (Tier 4) per person. Both are cached for ``ttl``
seconds on the injected clock.

A lookup never fails a command: a missing scope, a plan without user groups or an API
error logs one warning (naming the scope) and the user counts as in no group / not an
admin, or as last known when the cache holds an older answer."""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any, TypeVar

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient
from slack_sdk.web.async_slack_response import AsyncSlackResponse

from bot.chat import ActionInvocation, DialogSubmission, Invocation, Requester
from bot.clock import Clock

from .errors import TRANSPORT_ERRORS, api_error_code
from .translate import as_mapping

log = logging.getLogger(__name__)

DEFAULT_TTL = 300.0
RETRY_AFTER_ERROR = 30.0
"""Seconds before a lookup that failed for a passing reason (an outage) is tried again."""
LASTING = frozenset(
    {"missing_scope", "not_allowed_token_type", "plan_upgrade_required", "no_permission"}
)
"""Errors that do not heal by themselves: try again only after ``ttl``."""
UNKNOWN_USER = frozenset({"user_not_found", "user_not_visible"})
"""``users.info`` answers about one person, not about the method: that person is no admin."""
GROUPS_SCOPE = "usergroups:read"
USERS_SCOPE = "users:read"
MANIFEST = "docs/slack-app-manifest.yaml"

T = TypeVar("T", Invocation, ActionInvocation, DialogSubmission)


class _Source:
    """One Web API method the directory reads: calls it, remembers a failure for a
    while (so a missing scope is not asked again on every command) and warns once."""

    def __init__(self, method: str, scope: str, without: str, clock: Clock, ttl: float) -> None:
        self.method = method
        self.scope = scope
        self._without = without
        self._clock = clock
        self._ttl = ttl
        self._blocked_until = float("-inf")
        self._warned: str | None = None

    def unavailable(self, code: str, *, known: bool = False) -> None:
        """Record that the method cannot work now (``code``), warning once per cause.
        ``known``: an older answer is at hand and is used meanwhile."""
        lasting = code in LASTING
        self._blocked_until = self._clock.monotonic() + (
            self._ttl if lasting else min(self._ttl, RETRY_AFTER_ERROR)
        )
        if self._warned == code:
            return
        self._warned = code
        without = "the last answer read is used" if known else self._without
        if code == "missing_scope":
            log.warning(
                "Slack: the app lacks the %s scope (needed by %s), so %s. Add the scope and "
                "reinstall the app (%s).",
                self.scope,
                self.method,
                without,
                MANIFEST,
            )
        elif code == "plan_upgrade_required":
            log.warning(
                "Slack: this workspace's plan has no user groups (%s: %s), so %s.",
                self.method,
                code,
                without,
            )
        else:
            log.warning(
                "Slack: %s failed (%s; scope %s), so %s until it works again.",
                self.method,
                code,
                self.scope,
                without,
            )

    async def call(
        self,
        request: Callable[[], Awaitable[AsyncSlackResponse]],
        *,
        answers: Collection[str] = (),
        known: bool = False,
    ) -> Mapping[str, Any] | None:
        """The response, or None when the method is unavailable or failed. An error code
        in ``answers`` is an answer, returned as the error body. ``known``: the caller
        holds an older answer (for the wording of the warning)."""
        if self._clock.monotonic() < self._blocked_until:
            return None
        try:
            response = await request()
        except SlackApiError as exc:
            code = api_error_code(exc)
            if code in answers:
                return {"ok": False, "error": code}
            self.unavailable(code, known=known)
            return None
        except TRANSPORT_ERRORS as exc:
            self.unavailable(type(exc).__name__, known=known)
            return None
        if self._warned is not None:
            log.info("Slack: %s works again", self.method)
            self._warned = None
        return as_mapping(response.data)


@dataclass(frozen=True, slots=True)
class _Groups:
    members: Mapping[str, frozenset[str]]
    """user id → ids of the (enabled) user groups they belong to."""
    loaded_at: float
    generation: int


@dataclass(frozen=True, slots=True)
class _Admin:
    is_admin: bool
    loaded_at: float


class SlackDirectory:
    """Fills ``Requester.roles`` and ``Requester.is_admin`` from Slack, cached."""

    def __init__(
        self,
        client: AsyncWebClient,
        clock: Clock,
        *,
        ttl: float = DEFAULT_TTL,
        capacity: int = 10_000,
    ) -> None:
        self._client = client
        self._clock = clock
        self._ttl = ttl
        self._capacity = capacity
        self._groups_source = _Source(
            "usergroups.list",
            GROUPS_SCOPE,
            "nobody counts as a member of a Slack user group (IMAGINE_ALLOWED_ROLES)",
            clock,
            ttl,
        )
        self._users_source = _Source(
            "users.info",
            USERS_SCOPE,
            "workspace admins and owners are not bot admins (IMAGINE_ADMIN_USERS still are)",
            clock,
            ttl,
        )
        self._groups: _Groups | None = None
        self._generation = 0
        self._groups_lock = asyncio.Lock()
        self._admins: OrderedDict[str, _Admin] = OrderedDict()

    def check_scopes(self, granted: Collection[str]) -> None:
        """Warn at start-up (once) about a scope the token lacks, instead of at the
        first command; the lookup that needs it is then not even tried for a while."""
        for source in (self._groups_source, self._users_source):
            if source.scope not in granted:
                source.unavailable("missing_scope")

    def groups_changed(self) -> None:
        """A ``subteam_*`` event: the group table is out of date from now on."""
        self._generation += 1

    async def identify(self, invocation: T) -> T:
        """``invocation`` with its requester's groups and admin flag filled in."""
        requester = invocation.requester
        roles, admin = await asyncio.gather(
            self.groups_of(requester.user_id), self.is_admin(requester.user_id)
        )
        filled: Requester = replace(
            requester, roles=requester.roles | roles, is_admin=requester.is_admin or admin
        )
        return replace(invocation, requester=filled)

    async def groups_of(self, user_id: str) -> frozenset[str]:
        groups = self._groups
        if groups is None or not self._fresh(groups):
            async with self._groups_lock:  # one refresh for a burst of commands
                groups = self._groups
                if groups is None or not self._fresh(groups):
                    groups = await self._load_groups(known=groups is not None) or groups
        return groups.members.get(user_id, frozenset()) if groups is not None else frozenset()

    async def is_admin(self, user_id: str) -> bool:
        known = self._admins.get(user_id)
        if known is not None and self._clock.monotonic() - known.loaded_at < self._ttl:
            return known.is_admin
        response = await self._users_source.call(
            lambda: self._client.users_info(user=user_id),
            answers=UNKNOWN_USER,
            known=known is not None,
        )
        if response is None:
            return known.is_admin if known is not None else False
        user = as_mapping(response.get("user"))
        admin = any(bool(user.get(flag)) for flag in ("is_admin", "is_owner", "is_primary_owner"))
        self._admins[user_id] = _Admin(admin, self._clock.monotonic())
        self._admins.move_to_end(user_id)
        while len(self._admins) > self._capacity:
            self._admins.popitem(last=False)
        return admin

    def _fresh(self, groups: _Groups) -> bool:
        return (
            groups.generation == self._generation
            and self._clock.monotonic() - groups.loaded_at < self._ttl
        )

    async def _load_groups(self, *, known: bool) -> _Groups | None:
        generation = self._generation  # an event during the call leaves the result stale
        response = await self._groups_source.call(
            lambda: self._client.usergroups_list(include_users=True), known=known
        )
        if response is None:
            return None
        members: dict[str, set[str]] = {}
        for group in _list(response.get("usergroups")):
            group_id = group.get("id")
            if not group_id or group.get("date_delete"):  # disabled groups grant nothing
                continue
            for user_id in _list_of_str(group.get("users")):
                members.setdefault(user_id, set()).add(str(group_id))
        loaded = _Groups(
            {user: frozenset(ids) for user, ids in members.items()},
            self._clock.monotonic(),
            generation,
        )
        self._groups = loaded
        return loaded


def _list(value: object) -> list[Mapping[str, Any]]:
    return [v for v in value if isinstance(v, Mapping)] if isinstance(value, list) else []


def _list_of_str(value: object) -> list[str]:
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []
