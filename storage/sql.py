"""The SQL both stores run: SQLite as written, PostgreSQL after :func:`numbered`.

Written in the dialects' common ground: ``?`` placeholders, ``TRUE``/``FALSE``, boolean
columns tested bare (``NOT notified``), and ``rowid`` for insertion order (SQLite's
implicit row id; PostgreSQL's ``jobs`` has an identity column of that name). States are
inlined as literals (our own constants), so PostgreSQL can use its partial indexes."""

# ruff: noqa: S608  (every statement is built from this module's constants, never from input)
from __future__ import annotations

import re
from dataclasses import dataclass, fields

from bot.jobs import TERMINAL_STATES, ChannelKey, ChannelSettings, Job, JobState
from storage import codec

QUARANTINED = "quarantined"
"""The state of a job row that could not be read: kept for an operator, never resumed."""

UNFINISHED_STATES = tuple(sorted(s.value for s in JobState if s not in TERMINAL_STATES))
FINISHED_STATES = tuple(sorted(s.value for s in TERMINAL_STATES))


def _literals(values: tuple[str, ...]) -> str:
    return "(" + ", ".join(f"'{v}'" for v in values) + ")"


UNFINISHED = _literals(UNFINISHED_STATES)
FINISHED = _literals(FINISHED_STATES)
RESUMABLE = f"(state IN {UNFINISHED} OR (NOT notified AND state IN {FINISHED}))"
"""Rows a start resumes: unfinished jobs and endings not yet told."""

_COLUMNS = ", ".join(codec.JOB_COLUMNS)
JOB_SELECT = f"SELECT {_COLUMNS} FROM jobs"
UPDATE_COLUMNS = tuple(c for c in codec.JOB_COLUMNS if c not in ("id", "version"))


def job_insert(*extra: str) -> str:
    """``INSERT`` of every codec column, then ``extra`` columns (values in that order)."""
    columns = (*codec.JOB_COLUMNS, *extra)
    marks = ", ".join("?" for _ in columns)
    return f"INSERT INTO jobs ({', '.join(columns)}) VALUES ({marks})"


def job_update(*, also_set: str = "", also_where: str = "") -> str:
    """Compare-and-set of every column; see :func:`job_update_values` for the values.
    A job that ends gives its slot back."""
    sets = ", ".join(f"{c} = ?" for c in UPDATE_COLUMNS)
    return (
        f"UPDATE jobs SET {sets}, version = version + 1, "
        f"has_slot = has_slot AND NOT ?{also_set} WHERE id = ? AND version = ?{also_where}"
    )


def job_update_values(job: Job, *also_set: object) -> list[object]:
    """Values for :func:`job_update`; the ``also_where`` ones follow (the caller's)."""
    row = codec.job_to_row(job)
    return [*(row[c] for c in UPDATE_COLUMNS), job.state.terminal, *also_set, job.id, job.version]


def job_row_values(job: Job) -> list[object]:
    row = codec.job_to_row(job)
    return [row[c] for c in codec.JOB_COLUMNS]


GET_JOB = f"{JOB_SELECT} WHERE id = ? AND state <> '{QUARANTINED}'"
JOB_EXISTS = "SELECT 1 FROM jobs WHERE id = ?"
UNFINISHED_JOBS = f"{JOB_SELECT} WHERE state IN {UNFINISHED} ORDER BY created_at, rowid"
TO_RESUME = f"{JOB_SELECT} WHERE {RESUMABLE} ORDER BY created_at, rowid"
QUARANTINE = f"UPDATE jobs SET state = '{QUARANTINED}', error = ?, has_slot = FALSE WHERE id = ?"
COUNT_SINCE = (
    "SELECT COUNT(*) AS n FROM jobs "
    "WHERE platform = ? AND workspace = ? AND requester_id = ? AND created_at >= ?"
)
RECENT = (
    f"{JOB_SELECT} WHERE platform = ? AND workspace = ? AND requester_id = ? "
    f"AND state <> '{QUARANTINED}' ORDER BY created_at DESC, rowid DESC LIMIT ?"
)
PRUNE = (
    "DELETE FROM jobs WHERE created_at < ? AND ("
    f"(notified AND state IN {FINISHED}) OR state = '{QUARANTINED}')"
)

# -- slots -------------------------------------------------------------------------------

_HOLDING = f"h.has_slot AND h.state IN {UNFINISHED}"
_SAME_REQUESTER = "{t}.platform = ? AND {t}.workspace = ? AND {t}.requester_id = ?"
_WAITING = "{t}.state = 'accepted' AND NOT {t}.has_slot"
_OLDER = (
    "({t}.created_at < {j}.created_at OR ({t}.created_at = {j}.created_at AND {t}.rowid {op} "
    "{j}.rowid))"
)
TAKE_SLOT = (
    f"UPDATE jobs SET has_slot = TRUE WHERE id = ? AND NOT has_slot AND state IN {UNFINISHED} "
    f"AND (SELECT COUNT(*) FROM jobs h WHERE {_HOLDING} AND {_SAME_REQUESTER.format(t='h')}) < ? "
    f"AND (SELECT COUNT(*) FROM jobs h WHERE {_HOLDING}) < ? "
    f"AND NOT EXISTS (SELECT 1 FROM jobs w WHERE {_WAITING.format(t='w')} "
    f"AND {_SAME_REQUESTER.format(t='w')} AND {_OLDER.format(t='w', j='jobs', op='<')})"
)
"""Grant a slot if the requester and everyone are under their limits and none of the
requester's older jobs waits. Values: :func:`take_slot_values`."""
HAS_SLOT = "SELECT has_slot FROM jobs WHERE id = ?"
SLOTS_IN_USE = f"SELECT COUNT(*) AS n FROM jobs h WHERE {_HOLDING}"
QUEUE_POSITION = (
    "SELECT COUNT(*) AS n FROM jobs j JOIN jobs w "
    f"ON {_WAITING.format(t='w')} AND {_OLDER.format(t='w', j='j', op='<=')} "
    f"WHERE j.id = ? AND {_WAITING.format(t='j')}"
)

# -- per-channel data and backend values -------------------------------------------------

_KEY_WHERE = "WHERE platform = ? AND workspace = ? AND channel = ?"
GET_SCOPE = f"SELECT scope FROM channel_scopes {_KEY_WHERE} AND backend = ?"
SET_SCOPE = """
    INSERT INTO channel_scopes (backend, platform, workspace, channel, scope, updated_at)
    VALUES (?, ?, ?, ?, ?, ?)
    ON CONFLICT (backend, platform, workspace, channel)
    DO UPDATE SET scope = excluded.scope, updated_at = excluded.updated_at
"""
GET_SETTINGS = f"SELECT {', '.join(codec.SETTINGS_COLUMNS)} FROM channel_settings {_KEY_WHERE}"
SET_SETTINGS = f"""
    INSERT INTO channel_settings
        (platform, workspace, channel, {", ".join(codec.SETTINGS_COLUMNS)}, updated_at)
    VALUES (?, ?, ?, {", ".join("?" for _ in codec.SETTINGS_COLUMNS)}, ?)
    ON CONFLICT (platform, workspace, channel) DO UPDATE SET
        {", ".join(f"{c} = excluded.{c}" for c in codec.SETTINGS_COLUMNS)},
        updated_at = excluded.updated_at
"""
"""Values: :func:`settings_values`."""
GET_VALUE = "SELECT value FROM backend_values WHERE name = ?"
SET_VALUE = """
    INSERT INTO backend_values (name, value, updated_at) VALUES (?, ?, ?)
    ON CONFLICT (name) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at
"""


def key_values(key: ChannelKey) -> tuple[str, str, str]:
    return (key.platform, key.workspace, key.channel)


def take_slot_values(
    job_id: str, requester: ChannelKey, requester_id: str, per_user: int, overall: int
) -> list[object]:
    who = (requester.platform, requester.workspace, requester_id)
    return [job_id, *who, per_user, overall, *who]


def settings_values(key: ChannelKey, settings: ChannelSettings, now: float) -> list[object]:
    row = codec.settings_to_row(settings)
    return [*key_values(key), *(row[c] for c in codec.SETTINGS_COLUMNS), now]


_MARK = re.compile(r"\?")


def numbered(sql: str) -> str:
    """``?`` placeholders → PostgreSQL's ``$1, $2, …`` (our SQL has no ``?`` literals)."""
    counter = iter(range(1, 10_000))
    return _MARK.sub(lambda _: f"${next(counter)}", sql)


@dataclass(frozen=True, slots=True)
class Statements:
    """The shared statements in one dialect's placeholders (:data:`SQLITE`, :data:`POSTGRES`)."""

    get_job: str = GET_JOB
    job_exists: str = JOB_EXISTS
    unfinished_jobs: str = UNFINISHED_JOBS
    quarantine: str = QUARANTINE
    count_since: str = COUNT_SINCE
    recent: str = RECENT
    prune: str = PRUNE
    take_slot: str = TAKE_SLOT
    has_slot: str = HAS_SLOT
    slots_in_use: str = SLOTS_IN_USE
    queue_position: str = QUEUE_POSITION
    get_scope: str = GET_SCOPE
    set_scope: str = SET_SCOPE
    get_settings: str = GET_SETTINGS
    set_settings: str = SET_SETTINGS
    get_value: str = GET_VALUE
    set_value: str = SET_VALUE

    def numbered(self) -> Statements:
        return Statements(**{f.name: numbered(getattr(self, f.name)) for f in fields(self)})


SQLITE = Statements()
POSTGRES = SQLITE.numbered()
