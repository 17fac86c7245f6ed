"""A throwaway PostgreSQL cluster on loopback, for tests and ``bench/store_cost.py``.

``initdb`` into a temporary directory, ``pg_ctl start`` on a free 127.0.0.1 port with the
unix socket in that directory too; stopped and deleted at the end. Clients log in with a
password (SCRAM) over TCP, as a deployment would. PostgreSQL refuses to run as root: then
the server runs as the ``postgres`` system user (``runuser``), which owns the directory.

Fixtures: ``postgres_cluster`` (one per test session) and ``postgres_url`` (a fresh,
empty database per test). Without PostgreSQL installed they skip, except under ``CI``
where they fail (CI installs it)."""

from __future__ import annotations

import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

SERVER_USER = "postgres"
"""The system user the server runs as when the tests run as root."""

FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")
"""Durability off: a test cluster is deleted anyway, and this makes DDL cheap."""


def find_bindir() -> Path | None:
    """The directory holding ``initdb`` and ``pg_ctl``: from PATH, else the newest
    ``/usr/lib/postgresql/<version>/bin`` (where Debian puts them)."""
    found = shutil.which("initdb")
    if found is not None:
        bindir = Path(found).resolve().parent
        if (bindir / "pg_ctl").exists():
            return bindir
    candidates = [p.parent for p in Path("/usr/lib/postgresql").glob("*/bin/initdb")]
    versions = [(int(m.group()), p) for p in candidates if (m := re.match(r"\d+", p.parent.name))]
    return max(versions)[1] if versions else None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    """A running cluster. ``PostgresCluster.start()``; ``stop()`` removes it."""

    bindir: Path
    root: Path
    port: int
    password: str = field(repr=False)
    _databases: int = 0
    _settings: tuple[str, ...] = ()

    user = "postgres"
    """The superuser clients log in as."""

    @classmethod
    def start(cls, bindir: Path | None = None, *, durable: bool = False) -> PostgresCluster:
        """``initdb`` and start a cluster (``durable=False``: fsync off, in memory)."""
        bindir = bindir or find_bindir()
        if bindir is None:
            raise RuntimeError("PostgreSQL is not installed (no initdb on PATH)")
        # A test cluster lives in memory where it can (creating a database is 10x faster).
        memory = Path("/dev/shm")
        scratch = memory if not durable and os.access(memory, os.W_OK | os.X_OK) else None
        root = Path(tempfile.mkdtemp(prefix="imagine-pg-", dir=scratch))
        cluster = cls(bindir, root, port=0, password=secrets.token_urlsafe(18))
        try:
            cluster._init()
            cluster._serve(() if durable else FAST_SETTINGS)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    @property
    def data(self) -> Path:
        return self.root / "data"

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{self.user}:{self.password}@127.0.0.1:{self.port}/{database}"

    async def create_database(self) -> str:
        """A new empty database; its URL."""
        self._databases += 1
        name = f"test_{self._databases}_{secrets.token_hex(3)}"
        conn = await asyncpg.connect(self.url())
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return self.url(name)

    def stop(self) -> None:
        """Stop the server (if it runs) and delete its directory."""
        self._pg_ctl_stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def pause(self) -> None:
        """Stop the server, keeping its data (an outage; :meth:`resume` ends it)."""
        self._pg_ctl_stop("fast")  # flushes what asynchronous commits left in memory

    def resume(self) -> None:
        """Start the paused server again, on the same port."""
        self._pg_ctl_start()

    @property
    def postmaster_pid(self) -> int:
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def server_log(self) -> str:
        try:
            return (self.root / "server.log").read_text(errors="replace")
        except OSError:
            return ""

    # -- internals ---------------------------------------------------------------------

    def _init(self) -> None:
        if os.geteuid() == 0:
            try:
                server_user = pwd.getpwnam(SERVER_USER)
            except KeyError:
                raise RuntimeError(
                    f"running as root, PostgreSQL needs the {SERVER_USER!r} system user "
                    "(the postgresql package creates it)"
                ) from None
            os.chown(self.root, server_user.pw_uid, server_user.pw_gid)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if os.geteuid() == 0:
            os.chown(pwfile, pwd.getpwnam(SERVER_USER).pw_uid, -1)
        try:
            self._run(
                "initdb", "-D", str(self.data), "-U", self.user, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "-E", "UTF8",
                "--no-locale", "--no-sync",
            )  # fmt: skip
        finally:
            pwfile.unlink()

    def _serve(self, settings: tuple[str, ...]) -> None:
        """``pg_ctl start`` on a free port (a few tries: another process may take it)."""
        self._settings = settings
        for attempt in range(3):
            self.port = free_port()
            try:
                self._pg_ctl_start()
            except RuntimeError:
                if attempt == 2:
                    raise
                continue
            return

    def _pg_ctl_stop(self, mode: str) -> None:
        if (self.data / "postmaster.pid").exists():
            self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "stop")

    def _pg_ctl_start(self) -> None:
        options = [
            f"-p {self.port}",
            f"-k {self.root}",
            "-c listen_addresses=127.0.0.1",
            *(f"-c {s}" for s in self._settings),
        ]
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", str(self.root / "server.log"),
            "-o", " ".join(options), "-w", "-t", "60", "start",
        )  # fmt: skip

    def _run(self, tool: str, *args: str) -> None:
        command = [str(self.bindir / tool), *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", SERVER_USER, "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, check=False, cwd=self.root)
        if done.returncode != 0:
            raise RuntimeError(
                f"{tool} failed ({done.returncode}): {done.stderr.strip()}\n{self.server_log()}"
            )


@pytest.fixture(scope="session")
def postgres_cluster() -> Iterator[PostgresCluster]:
    bindir = find_bindir()
    if bindir is None:
        message = "PostgreSQL is not installed (no initdb); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    cluster = PostgresCluster.start(bindir)
    try:
        yield cluster
    finally:
        cluster.stop()


@pytest.fixture
async def postgres_url(postgres_cluster: PostgresCluster) -> str:
    """A fresh, empty database on the session's cluster."""
    return await postgres_cluster.create_database()
