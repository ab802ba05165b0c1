"""Session-wide fixtures: every test's own data directory, and one real PostgreSQL server.

Nothing is ever written into the home; tests that ask for PostgreSQL share one server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.postgres import PostgresServer, postgres_server


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``RELAYWARDEN_DATA_DIR`` (and ``XDG_DATA_HOME``) point into the session's temp dir.

    Set in ``os.environ``, so subprocesses (``relaywarden serve``, the CLI) inherit it.
    """
    root = tmp_path_factory.mktemp("data")
    saved = {k: os.environ.get(k) for k in ("RELAYWARDEN_DATA_DIR", "XDG_DATA_HOME")}
    os.environ["RELAYWARDEN_DATA_DIR"] = str(root / "relaywarden")
    os.environ["XDG_DATA_HOME"] = str(root / "xdg")
    try:
        yield root / "relaywarden"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PostgresServer]:
    """A PostgreSQL server started once per test session (initdb in a temp directory)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
def pg_url(pg_server: PostgresServer) -> str:
    """URL of a fresh, empty database on the session's server."""
    return pg_server.new_database()


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh database of each backend: a SQLite file, or a database on ``pg_server``.

    Tests that take it (or the ``store`` fixtures built on it) run once per backend.
    """
    if request.param == "postgres":
        url: str = request.getfixturevalue("pg_url")
        return url
    return f"sqlite:///{tmp_path / 'relaywarden.db'}"
