"""Fixtures of the receiver tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from receiver.store.sqlite import SqliteStore
from tests.receiver.helpers import Server, running_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """relaywarden (callback token, TRTC key, no admin token) on a fresh SQLite file."""
    with running_server(tmp_path) as running:
        yield running


@pytest.fixture
async def sqlite_store(tmp_path: Path) -> AsyncIterator[SqliteStore]:
    """A SQLite store only: its writer cache and grouped ingest have no PostgreSQL twin."""
    opened = SqliteStore(str(tmp_path / "cache.db"))
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()
