"""PostgreSQL's operator-facing side: errors that say what is wrong, and a database URL
whose password never shows (in errors, tracebacks, reprs or logs)."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import traceback

import pytest

from storage import PostgresJobStore, StorageError, StoreClosedError, redact_url
from tests.storage.conftest import MakeJob, PostgresDatabase
from tests.support.postgres import PostgresCluster, free_port

POOL = 10  # PostgresJobStore's default max_connections


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "postgresql://imagine:s3cr%40t@db.internal:5432/jobs",
            "postgresql://imagine:***@db.internal:5432/jobs",
        ),
        ("postgresql://imagine:p@ss@db/jobs", "postgresql://imagine:***@db/jobs"),
        ("postgresql://imagine@db/jobs", "postgresql://imagine@db/jobs"),
        (
            "postgres://db/jobs?user=me&password=hunter2&sslpassword=x&sslmode=require",
            "postgres://db/jobs?user=me&password=***&sslpassword=***&sslmode=require",
        ),
    ],
)
def test_the_password_is_redacted_from_a_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def shown_anywhere(exc: BaseException) -> str:
    """Everything a log line with this exception could print: its chain, its repr."""
    return "".join(traceback.format_exception(exc)) + repr(exc) + repr(exc.args)


async def test_a_wrong_password_is_a_clear_error_without_any_password(
    postgres_cluster: PostgresCluster, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = postgres_cluster.url().replace(postgres_cluster.password, "not-the-Pa55word")

    with pytest.raises(StorageError) as info:
        await PostgresJobStore.open(wrong, owner="replica-a")

    message = str(info.value)
    assert redact_url(wrong) in message
    assert "password" in message and "IMAGINE_DATABASE_URL" in message
    assert info.value.code == "28P01"
    everything = shown_anywhere(info.value) + caplog.text
    assert "not-the-Pa55word" not in everything
    assert postgres_cluster.password not in everything


async def test_an_unreachable_server_is_a_clear_error(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    url = f"postgresql://imagine:Top-Secret-1@127.0.0.1:{free_port()}/jobs"

    with pytest.raises(StorageError) as info:
        await PostgresJobStore.open(url, owner="replica-a", connect_timeout=5)

    assert "cannot reach the server" in str(info.value)
    assert "postgresql://imagine:***@127.0.0.1" in str(info.value)
    assert "Top-Secret-1" not in shown_anywhere(info.value) + caplog.text


async def test_a_missing_database_is_named(postgres_cluster: PostgresCluster) -> None:
    with pytest.raises(StorageError) as info:
        await PostgresJobStore.open(postgres_cluster.url("no_such_db"), owner="replica-a")

    assert info.value.code == "3D000"
    assert "does not exist" in str(info.value)
    assert postgres_cluster.password not in shown_anywhere(info.value)


async def test_a_running_store_never_shows_its_password(
    pg: PostgresDatabase,
    postgres_cluster: PostgresCluster,
    make_job: MakeJob,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    store = await pg.open()
    await store.add_job(make_job("bad001"))
    await pg.execute("UPDATE jobs SET results = 'nope' WHERE id = 'bad001'")
    await store.aclose()
    async with await pg.open() as restarted:
        assert (await restarted.claim_unfinished()).quarantined  # logged, with the location
        shown = repr(restarted) + restarted.location
    with pytest.raises(StoreClosedError) as closed:
        await store.get_job("bad001")

    assert "postgresql://postgres:***@127.0.0.1" in shown
    assert "quarantined" in caplog.text
    assert postgres_cluster.password not in shown + caplog.text + shown_anywhere(closed.value)


async def test_dropped_connections_fail_as_storage_errors_and_are_replaced(
    pg: PostgresDatabase, make_job: MakeJob
) -> None:
    """The server ends every connection of the store (a restart, a failover, an admin):
    a call on a connection asyncpg has not yet seen close fails as a StorageError (the
    core retries those), at most once per connection, and the pool replaces them."""
    async with await pg.open() as store:
        job = await store.add_job(make_job("j0"))
        await asyncio.gather(*(store.get_job("j0") for _ in range(POOL)))  # fill the pool
        await pg.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name = 'replica-a'"
        )

        failures = 0
        async with asyncio.timeout(10):
            while True:  # until a burst that uses every pooled connection goes through
                burst = await asyncio.gather(
                    *(store.get_job("j0") for _ in range(POOL)), return_exceptions=True
                )
                errors = [r for r in burst if isinstance(r, BaseException)]
                assert all(isinstance(e, StorageError) for e in errors), errors
                failures += len(errors)
                if not errors:
                    break
        assert failures <= POOL
        saved = await store.save_job(dataclasses.replace(job, attempts=1))
        assert saved.version == 2 and await store.get_job("j0") == saved


async def test_an_outage_is_a_storage_error_and_the_store_recovers_after_it(
    make_job: MakeJob,
) -> None:
    cluster = PostgresCluster.start()  # its own: this test stops the server
    try:
        url = await cluster.create_database()
        async with await PostgresJobStore.open(url, owner="replica-a") as store:
            job = await store.add_job(make_job("j0"))
            cluster.pause()

            with pytest.raises(StorageError) as info:
                await store.save_job(dataclasses.replace(job, attempts=1))
            assert "save_job(j0)" in str(info.value)
            assert cluster.password not in shown_anywhere(info.value)

            cluster.resume()
            assert await store.get_job("j0") == job  # nothing half-written
            assert (await store.save_job(dataclasses.replace(job, attempts=1))).version == 2
    finally:
        cluster.stop()
