"""The SQLite writer's cache (``receiver.store.cache``): what a write to a relay table drops."""

from __future__ import annotations

import sqlite3
from typing import Any

import pytest

from receiver.domain.relay import PullToPushSpec, Relay
from receiver.domain.states import IngestState, RelayOrigin, RelayState
from receiver.store.relays import add_ingest, insert_relay, update_relay
from receiver.store.sqlite import SqliteStore

pytestmark = pytest.mark.anyio


def _relay(relay_id: str, task_id: str) -> Relay:
    return Relay(
        id=relay_id,
        name=relay_id,
        state=RelayState.ACTIVE,
        origin=RelayOrigin.DECLARED,
        region="cn-shanghai",
        pull_to_push=PullToPushSpec(Region="cn-shanghai"),
        current_task_id=task_id,
    )


def _read_all(store: SqliteStore, conn: sqlite3.Connection) -> dict[str, Any]:
    cache = store._cache
    return {
        "r1": cache.relay(conn, "r1"),
        "r2": cache.relay(conn, "r2"),
        "t1": cache.link(conn, ("aliyun", "t1")),
        "t2": cache.link(conn, ("aliyun", "t2")),
        "ingests_r1": cache.has_ingests(conn, "r1"),
        "ingests_r2": cache.has_ingests(conn, "r2"),
    }


async def test_a_write_to_one_relay_row_drops_only_what_was_read_from_that_row(
    sqlite_store: SqliteStore,
) -> None:
    store = sqlite_store

    def setup(conn: sqlite3.Connection) -> None:
        insert_relay(conn, _relay("r1", "t1"))
        insert_relay(conn, _relay("r2", "t2"))

    await store.write(setup)
    before = await store.write(lambda conn: _read_all(store, conn))
    assert before["r1"].state is RelayState.ACTIVE and before["t1"].relay_id == "r1"
    assert before["ingests_r1"] is False

    def change_r1(conn: sqlite3.Connection) -> None:
        # As the job runner does: one relay, its link and its ingests change.
        update_relay(conn, "r1", state=RelayState.ENDED.value)
        conn.execute("UPDATE relay_tasks SET retired_by_us = 1 WHERE task_id = 't1'")
        add_ingest(
            conn, "r1", sdk_app_id=1400000001, task_id="i1", state=IngestState.RUNNING, owned=True
        )

    await store.write(change_r1)
    cache = store._cache
    # The other relay's entries stay (the same objects, not read again) ...
    assert cache._relays.get("r2") is before["r2"]
    assert cache._links.get(("aliyun", "t2")) is before["t2"]
    assert cache._ingests.get("r2") is False
    # ... the changed row's are dropped, and read again as the database has them now.
    assert "r1" not in cache._relays and ("aliyun", "t1") not in cache._links
    after = await store.write(lambda conn: _read_all(store, conn))
    assert after["r1"].state is RelayState.ENDED
    assert after["t1"].retired_by_us
    assert after["ingests_r1"] is True


async def test_a_deleted_link_is_not_served_from_the_cache(sqlite_store: SqliteStore) -> None:
    store = sqlite_store
    await store.write(lambda conn: insert_relay(conn, _relay("r1", "t1")))
    before = await store.write(lambda conn: store._cache.link(conn, ("aliyun", "t1")))
    assert before is not None and before.relay_id == "r1"
    await store.write(lambda conn: conn.execute("DELETE FROM relay_tasks WHERE task_id = 't1'"))
    after = await store.write(lambda conn: store._cache.link(conn, ("aliyun", "t1")))
    assert after is None
