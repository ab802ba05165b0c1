"""A full disk for real: the SQLite file may not grow (``PRAGMA max_page_count`` on the
writer's connection), so callbacks (the grouped writer path) and API writes (one savepoint
each) fail; ``/readyz`` answers 503 with ``commit_failure`` until a write commits again.
On PostgreSQL the database is made read-only for real (``default_transaction_read_only``)."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import anyio.from_thread
import psycopg

from tests.receiver.helpers import Server, aliyun_status, assert_error_shape, running_server


def _callback(server: Server, index: int) -> Any:
    body = aliyun_status(f"full-disk-{index}", 1, 1725501000 + index)
    body["TaskInfo"]["Padding"] = "x" * 6000  # a fresh page or two per event
    return server.aliyun(json.dumps(body).encode())


def _pin_size(conn: sqlite3.Connection) -> None:
    pages = int(conn.execute("PRAGMA page_count").fetchone()[0])
    conn.execute(f"PRAGMA max_page_count = {pages}")


def _unpin_size(conn: sqlite3.Connection) -> None:
    conn.execute("PRAGMA max_page_count = 1073741823")


def test_readyz_reports_commit_failure_until_a_write_commits(tmp_path: Path) -> None:
    with running_server(tmp_path) as server:
        assert server.client.get("/readyz").json() == {"status": "ready"}
        assert _callback(server, 0).status_code == 200
        store: Any = server.runtime.store
        _write(server, _pin_size)

        refused = [_callback(server, i) for i in range(1, 6)]
        assert all(r.status_code == 503 for r in refused), [r.text for r in refused]
        assert_error_shape(refused[0], 503, "store_unavailable")
        ready = server.client.get("/readyz")
        assert ready.status_code == 503, ready.text
        body = ready.json()
        assert body["status"] == "unavailable"
        assert any(p.startswith("commit_failure") for p in body["problems"]), body
        assert "full" in store.commit_failure

        # The one-savepoint path (keeping an unrecognized body) fails the same way.
        kept = server.aliyun(json.dumps({"Unknown": "y" * 6000}).encode())
        assert_error_shape(kept, 503, "store_unavailable")
        assert server.client.get("/readyz").status_code == 503

        _write(server, _unpin_size)  # room again: this write commits
        assert _callback(server, 7).status_code == 200
        assert server.client.get("/readyz").json() == {"status": "ready"}
        assert store.commit_failure is None


def _write(server: Server, fn: Any) -> None:
    """Run ``fn`` on the writer's own connection, in its thread, through the store."""
    store: Any = server.runtime.store

    async def run() -> None:
        await store.write(fn)

    with anyio.from_thread.start_blocking_portal() as portal:
        # The writer resolves the future on the caller's loop: use the portal's loop.
        portal.call(run)


def _read_only(pg_url: str, on: bool) -> None:
    """Make the database refuse writes (or accept them again) for every new transaction,
    and end the store's connections so that its pool reconnects under the new setting."""
    name = pg_url.rsplit("/", 1)[1]
    admin = pg_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        value = "on" if on else "off"
        conn.execute(f'ALTER DATABASE "{name}" SET default_transaction_read_only = {value}')
        conn.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (name,),
        )


def test_readyz_reports_commit_failure_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    with running_server(tmp_path, database_url=pg_url) as server:
        assert _callback(server, 0).status_code == 200
        assert server.client.get("/readyz").json() == {"status": "ready"}
        _read_only(pg_url, True)
        try:
            statuses = [_callback(server, i).status_code for i in range(1, 5)]
            assert set(statuses) == {503}, statuses
            ready = server.client.get("/readyz")
            assert ready.status_code == 503, ready.text
            problems = ready.json()["problems"]
            assert any(p.startswith("commit_failure") for p in problems), problems
        finally:
            _read_only(pg_url, False)
        for attempt in range(5, 15):  # the pool replaces its ended connections
            if _callback(server, attempt).status_code == 200:
                break
        else:
            raise AssertionError("writes never recovered")
        assert server.client.get("/readyz").json() == {"status": "ready"}
