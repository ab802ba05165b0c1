"""The orphan board: a sweep kept in the store for every replica, and the gauge of the
replica that swept (both backends)."""

from __future__ import annotations

import pytest

from receiver import metrics
from receiver.orphans import OrphanBoard, OrphanList, OrphanTask
from receiver.store.select import AnyStore
from tests.receiver.test_store_sqlite import store

pytestmark = pytest.mark.anyio

__all__ = ["store"]  # the fixture: both backends


def _orphan(task_id: str, *, adopted: bool) -> OrphanTask:
    return OrphanTask(
        provider="aliyun",
        region="cn-shanghai",
        task_id=task_id,
        status=0,
        dst_url="rtmp://push.example.com/app/x?auth_key=***",
        relay_id=None,
        adopted=adopted,
        seen_at="2026-12-02T12:00:00Z",
    )


def _gauge() -> float:
    value = metrics.REGISTRY.get_sample_value("relaywarden_orphan_tasks")
    assert value is not None
    return value


async def test_a_sweep_is_read_back_by_another_board_on_the_same_store(store: AnyStore) -> None:
    sweeper, other = OrphanBoard(store), OrphanBoard(store)
    assert await other.snapshot() == OrphanList([], None)

    items = [_orphan("ghost", adopted=False), _orphan("taken", adopted=True)]
    await sweeper.replace(items, 1_764_676_800_000)
    assert _gauge() == 1  # the adopted one is no orphan any more
    seen = await other.snapshot()
    assert seen.items == items and seen.swept_at is not None

    await sweeper.replace([], 1_764_676_860_000)  # the next sweep replaces the last
    assert (await other.snapshot()).items == [] and _gauge() == 0


async def test_a_replica_that_stops_sweeping_reports_no_orphans(store: AnyStore) -> None:
    board = OrphanBoard(store)
    await board.replace([_orphan("ghost", adopted=False)], 1_764_676_800_000)
    assert _gauge() == 1
    board.step_down()
    assert _gauge() == 0
    assert [o.task_id for o in (await board.snapshot()).items] == ["ghost"]  # still listed


async def test_an_unreadable_stored_sweep_reads_as_none_yet(store: AnyStore) -> None:
    await store.save_orphans('{"items": "not a list"}')
    assert await OrphanBoard(store).snapshot() == OrphanList([], None)
