"""Slack user groups (``IMAGINE_ALLOWED_ROLES``) and workspace admins are real: read from
``usergroups.list`` / ``users.info``, cached, refreshed by ``subteam_*`` events, and a
lookup that fails never leaves a user without an answer."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from adapters.slack.directory import DEFAULT_TTL, RETRY_AFTER_ERROR
from bot.access import AccessConfig
from bot.config import BotConfig
from emulator.superduper import Emulator
from tests.slack.fakes.slack_api import BOT_USER, FakeSlack, SlackUser
from tests.slack.fakes.slack_side import event_callback, mention_event, slash_payload
from tests.slack.wiring import ManualClock, Mode, SlackBot, slack_bot
from tests.support.harness import fast_bot_config
from tests.support.waiting import until

DESIGN = "S0DESIGN"
NOT_LISTED = "You're not on the list of people who can use /imagine. Ask an admin for access."
ADMINS_ONLY = "Only admins can see or change this channel's /imagine settings."


def groups_only(*admins: str, groups: frozenset[str] = frozenset({DESIGN})) -> BotConfig:
    """Only members of ``groups`` (and admins) may use the bot."""
    return fast_bot_config(access=AccessConfig(allowed_roles=groups, admin_users=frozenset(admins)))


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "adapters.slack.directory" and r.levelno == logging.WARNING
    ]


async def imagined(run: SlackBot, user: str) -> str:
    """``/imagine`` by ``user`` that starts a job: the text of its public status message."""

    def statuses() -> list[str]:
        return [m.text for m in run.fake.messages if f"<@{user}> is imagining" in m.text]

    before = len(statuses())
    ack = await run.side.slash(slash_payload(run.fake, f"a fox for {user}", user=user))
    assert (ack.status, ack.text) == (200, "")
    await run.fake.wait_for(lambda: len(statuses()) > before)
    return statuses()[-1]


async def deliver(
    run: SlackBot, event: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    """Slack delivers a ``subteam_*`` event; wait until the adapter has taken it in."""
    seen = len(caplog.records)
    ack = await run.side.event(event_callback(event))
    assert ack.status == 200
    await until(
        lambda: any(
            f"{event['type']}; user groups will be read again" in r.getMessage()
            for r in caplog.records[seen:]
        )
    )


@pytest.mark.parametrize("mode", ["http", "socket"])
async def test_a_group_member_may_imagine_and_a_non_member_is_refused_privately(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, mode: Mode
) -> None:
    fake_slack.create_group(DESIGN, "design", ["U1"])
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", mode=mode, config=groups_only()
    ) as run:
        assert await run.ask("a fox", user="U2") == NOT_LISTED
        assert fake_slack.messages == []

        assert "a fox for U1" in await imagined(run, "U1")
        [listed] = fake_slack.calls_to("usergroups.list")
        assert listed.params["include_users"] == "1"
        await run.harness.bot.drain()


@pytest.mark.parametrize("flag", ["is_admin", "is_owner", "is_primary_owner"])
async def test_a_workspace_admin_may_use_imagine_settings(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, flag: str
) -> None:
    fake_slack.users["UBOSS"] = SlackUser("UBOSS", **{flag: True})
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        saved = await run.ask("steps=12", user="UBOSS", command="/imagine-settings")
        assert saved.startswith("Saved.") and "steps 12" in saved
        assert await run.ask("", user="U2", command="/imagine-settings") == ADMINS_ONLY
        await imagined(run, "UBOSS")  # an admin needs no group
        await run.harness.bot.drain()
    assert [c.params["user"] for c in fake_slack.calls_to("users.info")] == ["UBOSS", "U2"]


async def test_a_membership_change_takes_effect_without_waiting_for_the_ttl(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="adapters.slack.adapter")
    clock = ManualClock()  # never advanced: the cache cannot expire
    fake_slack.create_group(DESIGN, "design", ["U1"])
    config = groups_only(groups=frozenset({DESIGN, "S0NEW"}))
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", config=config, clock=clock
    ) as run:
        assert await run.ask("a fox", user="U2") == NOT_LISTED

        await deliver(run, fake_slack.add_to_group(DESIGN, "U2"), caplog)
        await imagined(run, "U2")

        await deliver(run, fake_slack.remove_from_group(DESIGN, "U2"), caplog)
        assert await run.ask("a fox", user="U2") == NOT_LISTED

        await deliver(run, fake_slack.disable_group(DESIGN), caplog)  # subteam_updated
        assert await run.ask("a fox", user="U1") == NOT_LISTED

        await deliver(run, fake_slack.create_group("S0NEW", "new", ["U1"]), caplog)
        await imagined(run, "U1")
        assert len(fake_slack.calls_to("usergroups.list")) == 5  # one per change, no more
        await run.harness.bot.drain()


async def test_lookups_are_cached_and_read_again_after_the_ttl(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    clock = ManualClock()
    fake_slack.create_group(DESIGN, "design", ["U1", "U3"])
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", config=groups_only(), clock=clock
    ) as run:
        for user in ("U1", "U1", "U3", "U1"):
            await imagined(run, user)
        assert len(fake_slack.calls_to("usergroups.list")) == 1  # one table for everyone
        assert [c.params["user"] for c in fake_slack.calls_to("users.info")] == ["U1", "U3"]

        clock.advance(DEFAULT_TTL)
        fake_slack.remove_from_group(DESIGN, "U3")  # an event this app missed
        assert await run.ask("a fox", user="U3") == NOT_LISTED
        assert len(fake_slack.calls_to("usergroups.list")) == 2
        assert len(fake_slack.calls_to("users.info")) == 3
        await run.harness.bot.drain()


async def test_a_token_without_the_new_scopes_warns_at_start_and_users_still_get_answers(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """An app installed from the old manifest: no usergroups:read, no users:read."""
    fake_slack.scopes -= {"usergroups:read", "users:read"}
    fake_slack.create_group(DESIGN, "design", ["U1"])
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", config=groups_only("UADMIN")
    ) as run:
        warned = warnings_from(caplog)
        assert len(warned) == 2
        assert (
            "lacks the usergroups:read scope" in warned[0] and "IMAGINE_ALLOWED_ROLES" in warned[0]
        )
        assert "lacks the users:read scope" in warned[1]

        assert await run.ask("a fox", user="U1") == NOT_LISTED  # no group is known
        assert await run.ask("a fox", user="U1") == NOT_LISTED
        saved = await run.ask("steps=12", user="UADMIN", command="/imagine-settings")
        assert saved.startswith("Saved.")  # IMAGINE_ADMIN_USERS still works
        assert warnings_from(caplog) == warned  # nothing more
    assert fake_slack.calls_to("usergroups.list") == fake_slack.calls_to("users.info") == []


async def test_a_scope_lost_while_running_warns_once_and_falls_back(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    fake_slack.create_group(DESIGN, "design", ["U1"])
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        fake_slack.scopes.discard("usergroups:read")
        assert await run.ask("a fox", user="U1") == NOT_LISTED
        assert await run.ask("a fox", user="U1") == NOT_LISTED

        [refused] = fake_slack.calls_to("usergroups.list")  # not asked again for a while
        assert refused.status == 200
        [warning] = warnings_from(caplog)
        assert "usergroups:read" in warning and "reinstall" in warning


async def test_an_api_error_falls_back_to_what_is_known_and_recovers(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    clock = ManualClock()
    fake_slack.create_group(DESIGN, "design", ["U1"])
    fake_slack.failing["usergroups.list"] = "internal_error"
    fake_slack.failing["users.info"] = "fatal_error"
    async with slack_bot(
        emulator, fake_slack, tmp_path / "bot.db", config=groups_only(), clock=clock
    ) as run:
        assert await run.ask("a fox", user="U1") == NOT_LISTED  # nothing known: no groups
        assert [w.split(" (")[0] for w in warnings_from(caplog)] == [
            "Slack: usergroups.list failed",
            "Slack: users.info failed",
        ]
        assert "internal_error; scope usergroups:read" in warnings_from(caplog)[0]

        del fake_slack.failing["usergroups.list"], fake_slack.failing["users.info"]
        clock.advance(RETRY_AFTER_ERROR)
        await imagined(run, "U1")

        clock.advance(DEFAULT_TTL)
        fake_slack.failing["usergroups.list"] = "service_unavailable"
        await imagined(run, "U1")  # the last table read still holds
        assert len(warnings_from(caplog)) == 3
        assert "so the last answer read is used until it works again" in warnings_from(caplog)[2]
        await run.harness.bot.drain()


async def test_a_rate_limited_group_lookup_is_retried_after_retry_after(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.create_group(DESIGN, "design", ["U1"])
    fake_slack.rate_limit_once["usergroups.list"] = 0
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        await imagined(run, "U1")
        assert [c.status for c in fake_slack.calls_to("usergroups.list")] == [429, 200]
        await run.harness.bot.drain()


async def test_mentions_use_the_groups_too(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.create_group(DESIGN, "design", ["U1"])
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        outsider = fake_slack.post_user_message("C1", "U2", f"<@{BOT_USER}> a fox")
        await run.side.event(mention_event(outsider.text, ts=outsider.ts, user="U2"))
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        [note] = fake_slack.ephemerals
        assert (note.user, note.text) == ("U2", NOT_LISTED)

        member = fake_slack.post_user_message("C1", "U1", f"<@{BOT_USER}> a member's fox")
        await run.side.event(mention_event(member.text, ts=member.ts, user="U1"))
        await run.wait_results("C1", member.ts, 1)
        await run.harness.bot.drain()


async def test_buttons_use_the_groups_and_the_admin_flag(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    fake_slack.create_group(DESIGN, "design", ["U1", "U3"])
    fake_slack.users["UBOSS"] = SlackUser("UBOSS", is_admin=True)
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        await imagined(run, "U1")
        status = await run.wait_status()
        [result] = await run.wait_results("C1", status.ts, 1)
        await run.harness.bot.drain()

        await run.press(result, "reroll", user="U2")  # not in the group
        await fake_slack.wait_for(lambda: bool(fake_slack.ephemerals))
        assert [(n.user, n.text) for n in fake_slack.ephemerals] == [("U2", NOT_LISTED)]

        await run.press(result, "reroll", user="U3")  # in the group
        await run.wait_results("C1", status.ts, 2)
        await run.harness.bot.drain()

        await run.press(result, "delete", user="UBOSS")  # someone else's, but an admin
        await fake_slack.wait_for(lambda: len(run.results("C1", status.ts)) == 1)
        assert len(fake_slack.ephemerals) == 1


async def test_a_burst_of_commands_reads_the_groups_once(
    emulator: Emulator, fake_slack: FakeSlack, tmp_path: Path
) -> None:
    users = [f"U{n}" for n in range(1, 6)]
    fake_slack.create_group(DESIGN, "design", users)
    async with slack_bot(emulator, fake_slack, tmp_path / "bot.db", config=groups_only()) as run:
        await asyncio.gather(*(imagined(run, user) for user in users))
        assert len(fake_slack.calls_to("usergroups.list")) == 1
        assert sorted(c.params["user"] for c in fake_slack.calls_to("users.info")) == users
        await run.harness.bot.drain()
