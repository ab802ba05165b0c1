"""A real PostgreSQL server for the tests: ``initdb`` into a temporary directory, started on
a free loopback port, stopped at the end of the session.

The binaries come from Debian's ``postgresql`` package (``/usr/lib/postgresql/<v>/bin``) or
PATH. PostgreSQL refuses to run as root, so under root the cluster is created and run as the
``postgres`` user the package creates. A missing server skips (or fails, when integration is
required) through :func:`tests.support.integration.require_binary`'s rules.
"""

from __future__ import annotations

import contextlib
import glob
import os
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.integration import REQUIRE_ENV, integration_required
from tests.support.servers import free_port

__all__ = ["PostgresServer", "find_pg_bin", "postgres_server"]


def find_pg_bin() -> Path | None:
    """The directory holding ``initdb`` and ``postgres``, newest version first, or None."""
    for candidate in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True):
        if os.access(os.path.join(candidate, "initdb"), os.X_OK):
            return Path(candidate)
    found = shutil.which("initdb")
    return Path(found).parent if found else None


def _as_owner(argv: list[str]) -> list[str]:
    """``argv`` run as the ``postgres`` user when we are root (PostgreSQL refuses root)."""
    if os.geteuid() != 0:
        return argv
    return ["runuser", "-u", "postgres", "--", *argv]


class PostgresServer:
    """One running cluster; :meth:`new_database` gives each test an empty database."""

    def __init__(self, bin_dir: Path, root: Path) -> None:
        self.bin_dir = bin_dir
        self.root = root
        self.data = root / "data"
        self.sockets = root / "sockets"
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def admin_url(self) -> str:
        """URL of the maintenance database (trust authentication on loopback)."""
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        """initdb, then start ``postgres`` and wait until it accepts connections."""
        self.sockets.mkdir(parents=True)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres")
            shutil.chown(self.sockets, "postgres")
        subprocess.run(
            _as_owner(
                [
                    str(self.bin_dir / "initdb"),
                    "-D",
                    str(self.data),
                    "-U",
                    "postgres",
                    "--auth=trust",
                    "--encoding=UTF8",
                    "--no-instructions",
                    "--no-sync",
                ]
            ),
            check=True,
            capture_output=True,
        )
        log = open(self.root / "postgres.log", "wb")  # noqa: SIM115 (lives with the server)
        self._process = subprocess.Popen(
            _as_owner(
                [
                    str(self.bin_dir / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-k",
                    str(self.sockets),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-c",
                    "max_connections=300",
                    "-c",
                    "shared_buffers=64MB",
                ]
            ),
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            ready = subprocess.run(
                [str(self.bin_dir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port)],
                capture_output=True,
            )
            if ready.returncode == 0:
                return
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = (self.root / "postgres.log").read_text(errors="replace")
                raise RuntimeError(f"PostgreSQL did not start:\n{output[-2000:]}")
            time.sleep(0.1)

    def stop(self) -> None:
        """Fast shutdown (SIGINT), then make sure the process is gone."""
        if self._process is None:
            return
        # runuser does not pass signals on: signal the postmaster itself (SIGINT = fast
        # shutdown), whose pid is the first line of postmaster.pid.
        pid_file = self.data / "postmaster.pid"
        with contextlib.suppress(OSError, ValueError, IndexError):
            os.kill(int(pid_file.read_text().split()[0]), signal.SIGINT)
        try:
            self._process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        self._process = None

    def new_database(self) -> str:
        """Create an empty database; returns its URL."""
        import psycopg

        name = "t_" + uuid.uuid4().hex[:12]
        with psycopg.connect(self.admin_url, autocommit=True) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
        return f"postgresql://postgres@127.0.0.1:{self.port}/{name}"


@contextlib.contextmanager
def postgres_server() -> Iterator[PostgresServer]:
    """A started server for the duration of the block (skips or fails when unavailable)."""
    bin_dir = find_pg_bin()
    if bin_dir is None:
        message = "PostgreSQL server binaries (initdb, postgres) not found; apt install postgresql"
        if integration_required():
            pytest.fail(f"{message}, and {REQUIRE_ENV}=1 requires them")
        pytest.skip(message)
    root = Path(tempfile.mkdtemp(prefix="relaywarden-pg-"))
    server = PostgresServer(bin_dir, root)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
