"""SQLite WAL checkpoints in the background: committed pages reach the database file without a
commit doing it, an idle store does no checkpoints, and the writer keeps only a safety net."""

from __future__ import annotations

import asyncio
import shutil
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from receiver.domain.states import Status
from receiver.store.checkpoint import SAFETY_PAGES, Checkpointer
from receiver.store.sqlite import SqliteStore
from tests.receiver.test_store_sqlite import event

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def _events_in_main_file(path: Path, tmp_path: Path) -> int:
    """Events readable from the database file alone (its WAL left behind)."""
    alone = tmp_path / "alone.db"
    shutil.copyfile(path, alone)
    conn = sqlite3.connect(alone)
    try:
        return int(conn.execute("SELECT count(*) FROM events").fetchone()[0])
    finally:
        conn.close()


async def test_committed_pages_reach_the_database_file_in_the_background(tmp_path: Path) -> None:
    path = tmp_path / "store.db"
    store = SqliteStore(str(path))
    store.checkpointer.interval = 0.01
    store.open()
    try:
        autocheckpoint = await store.write(
            lambda conn: conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0]
        )
        assert autocheckpoint == SAFETY_PAGES
        before = store.checkpointer.checkpoints
        for n in range(20):
            await store.ingest(event(f"task-{n}", Status.RUNNING, 1_000 + n))
        # 20 small commits are far below the safety net: only the background thread copies.
        _wait_for(lambda: store.checkpointer.checkpoints > before)
        _wait_for(lambda: _events_in_main_file(path, tmp_path) == 20)
        wal_pages, copied = store.checkpointer.last
        assert wal_pages > 0 and copied == wal_pages
    finally:
        store.close()


async def test_an_idle_store_does_no_checkpoints(tmp_path: Path) -> None:
    store = SqliteStore(str(tmp_path / "store.db"))
    store.checkpointer.interval = 0.01
    store.open()
    try:
        await store.ingest(event("task", Status.RUNNING, 1))
        _wait_for(lambda: store.checkpointer.checkpoints >= 1)
        settled = store.checkpointer.checkpoints
        await asyncio.sleep(0.2)  # twenty intervals without a commit
        assert store.checkpointer.checkpoints == settled
        await store.ingest(event("task", Status.RECOVERING, 2))
        _wait_for(lambda: store.checkpointer.checkpoints == settled + 1)
    finally:
        store.close()


def test_a_failing_checkpoint_is_logged_and_the_thread_goes_on(tmp_path: Path) -> None:
    commits = iter(range(1_000_000))
    broken = sqlite3.connect(tmp_path / "x.db", check_same_thread=False)
    broken.close()  # every statement on it raises sqlite3.ProgrammingError

    def connect() -> sqlite3.Connection:
        return broken

    checkpointer = Checkpointer(connect, lambda: next(commits), interval=0.01)
    # ProgrammingError is an sqlite3.Error: logged, not raised, and the thread keeps trying.
    tries: list[int] = []
    checkpoint = checkpointer.checkpoint

    def counted(conn: sqlite3.Connection) -> None:
        tries.append(1)
        checkpoint(conn)

    checkpointer.checkpoint = counted  # type: ignore[method-assign]
    with capture_logs() as logs:
        checkpointer.start()
        _wait_for(lambda: len(tries) >= 5)  # the thread went on after the first failure
        checkpointer.stop()
    assert checkpointer.checkpoints == 0
    # The same error again and again is logged once (per minute).
    assert [line["event"] for line in logs] == ["store_checkpoint_failed"]


def test_a_connection_that_cannot_open_is_logged_and_the_thread_ends() -> None:
    def connect() -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    checkpointer = Checkpointer(connect, lambda: 1, interval=0.01)
    with capture_logs() as logs:
        checkpointer.start()
        thread = checkpointer._thread
        assert thread is not None
        thread.join(timeout=10)
        assert not thread.is_alive()
    checkpointer.stop()
    assert [(line["event"], line.get("stopped")) for line in logs] == [
        ("store_checkpoint_failed", True)
    ]
