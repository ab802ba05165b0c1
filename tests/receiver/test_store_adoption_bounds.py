"""Adoption bounds in the store, on both backends (both write paths): beyond the cap or the
rate a callback about an unknown task is stored, but no relay and no job is created."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from handlers.planner import RulePlanner
from handlers.rules import BUILTIN_RULES
from receiver.domain.adoption import AdoptionLimits
from receiver.domain.states import Status
from receiver.metrics import REGISTRY
from receiver.store.migrations import migrate
from receiver.store.select import AnyStore, build_store
from tests.receiver.helpers import running_server
from tests.receiver.test_store_sqlite import event

pytestmark = pytest.mark.anyio


@pytest.fixture
async def store(database_url: str) -> AsyncIterator[AnyStore]:
    opened = build_store(
        database_url, planner=RulePlanner(BUILTIN_RULES, default_region="cn-shanghai")
    )
    await opened.start()
    try:
        yield opened
    finally:
        await opened.stop()


def refused(reason: str) -> float:
    value = REGISTRY.get_sample_value("relaywarden_adoptions_refused_total", {"reason": reason})
    return value or 0.0


async def table_counts(store: AnyStore) -> dict[str, int]:
    def read(conn: Any) -> dict[str, int]:
        return {
            table: int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])
            for table in ("events", "relays", "jobs")
        }

    return await store.read(read)


def test_limits_name_their_reason() -> None:
    limits = AdoptionLimits(max_relays=3, per_minute=2)
    assert limits.refusal(0, 0) is None
    assert limits.refusal(2, 1) is None
    assert limits.refusal(3, 0) == "max_relays"
    assert limits.refusal(1, 2) == "per_minute"


async def test_the_cap_stores_every_event_but_adopts_no_more(store: AnyStore) -> None:
    store.adoption_limits = AdoptionLimits(max_relays=2, per_minute=100)
    before = refused("max_relays")
    # Concurrent callbacks: on SQLite they share one batch (the EventBatch path).
    results = await asyncio.gather(
        *(store.ingest(event(f"flood-{i}", Status.RUNNING, 1000 + i)) for i in range(5))
    )
    assert all(r.event_id is not None and not r.duplicate for r in results)
    counts = await table_counts(store)
    assert counts["events"] == 5 and counts["relays"] == 2
    assert refused("max_relays") - before == 3
    adopted = {r.job_ids for r in results if r.job_ids}
    assert len(adopted) <= 2  # only the adopted ones got jobs
    assert counts["jobs"] == sum(len(r.job_ids) for r in results)


async def test_the_rate_refuses_a_second_adoption_in_a_minute(store: AnyStore) -> None:
    store.adoption_limits = AdoptionLimits(max_relays=100, per_minute=1)
    before = refused("per_minute")
    first = await store.ingest(event("rate-1", Status.RUNNING, 1000))
    second = await store.ingest(event("rate-2", Status.RUNNING, 1000))
    counts = await table_counts(store)
    assert counts["events"] == 2 and counts["relays"] == 1
    assert second.job_ids == () and first.event_id is not None
    assert refused("per_minute") - before == 1
    assert (await store.get_task("aliyun", "rate-2")) is not None


def test_a_flood_of_new_task_ids_over_a_real_server_is_acknowledged_not_adopted(
    tmp_path: Path, database_url: str
) -> None:
    planner = RulePlanner(BUILTIN_RULES, default_region="cn-shanghai")
    with running_server(
        tmp_path, planner=planner, database_url=database_url, adopt_max_relays=3
    ) as server:
        for i in range(8):
            body = {
                "Event": "LivePullToPushRunning",
                "EventTime": str(1725501000 + i),
                "TaskId": f"flooded-{i}",
                "TaskInfo": {"TaskId": f"flooded-{i}"},
                "TaskStatus": 1,
            }
            response = server.aliyun(body)
            assert response.json() == {"status": "accepted"}, response.text
        relays = server.api("GET", "/api/relays").json()["items"]
        assert len(relays) == 3
        assert server.task("aliyun", "flooded-7")["events"]
        metrics = server.client.get("/metrics").text
        assert 'relaywarden_adoptions_refused_total{reason="max_relays"}' in metrics


def test_relay_list_and_adoption_counts_use_migration_7_indexes(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "plan.db")) as conn:
        conn.isolation_level = None
        migrate(conn)
        order = "ORDER BY created_at_ms DESC, id DESC LIMIT 10"
        for sql, index in (
            (f"SELECT * FROM relays {order}", "relays_by_created"),
            (f"SELECT * FROM relays WHERE state = 'active' {order}", "relays_by_state_created"),
            (
                "SELECT * FROM relays WHERE (created_at_ms, id) < (5, 'x') " + order,
                "relays_by_created",
            ),
            (
                "SELECT count(*) FROM relays WHERE origin = 'callback' AND state != 'deleted'",
                "relays_by_origin_created",
            ),
        ):
            plan = str(conn.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall())
            assert index in plan and "TEMP B-TREE" not in plan, (sql, plan)
