"""The forwarding outbox in the store, on both backends: a forward exists exactly when its
event was recorded (both callback paths), claims are leased and fenced, dead ones retried,
and delivered ones pruned by retention."""

from __future__ import annotations

import asyncio

import msgspec
import pytest

from receiver.domain.forwards import ForwardAttempt, ForwardState
from receiver.domain.states import Status
from receiver.events import Event
from receiver.store.postgres.store import PgStore
from receiver.store.rows import now_ms
from receiver.store.select import AnyStore
from tests.receiver.test_store_sqlite import event, store

pytestmark = pytest.mark.anyio
__all__ = ["store"]  # the fixture: both backends

HEADERS = {"content-type": "application/json", "sign": "abc", "sdkappid": "1400000000"}


def forwarded(task_id: str, time_ms: int, status: Status = Status.RUNNING) -> Event:
    return msgspec.structs.replace(event(task_id, status, time_ms), forward_headers=HEADERS)


async def test_forward_rows_follow_recorded_events_only(store: AnyStore) -> None:
    # Concurrent ingests: on SQLite they share one batched group commit (event_batch),
    # on PostgreSQL each takes the one-event transaction (apply_event).
    results = await asyncio.gather(
        *(store.ingest(forwarded(f"t{n}", 1000 + n)) for n in range(5)),
        store.ingest(event("plain", Status.RUNNING, 1)),  # forwarding off for this one
    )
    again = await store.ingest(forwarded("t0", 1000))  # a provider retry: a duplicate
    assert again.duplicate
    found = await store.list_forwards(state=None, limit=100, cursor=None)
    assert sorted(f.event_id for f in found) == sorted(
        r.event_id for r in results[:5] if r.event_id
    )
    assert {f.state for f in found} == {ForwardState.PENDING}
    assert {f.source for f in found} == {"aliyun_pull_to_push"}
    if isinstance(store, PgStore):  # the gauges come from the metrics leader's refresh
        store.aggregates.refresh()
    assert dict(store.forward_counts()) == {"pending": 5}


async def test_claim_is_leased_and_fenced(store: AnyStore) -> None:
    recorded = await store.ingest(forwarded("t", 1000))
    start = now_ms()
    [claim] = await store.claim_forwards(limit=10, lease_ms=60_000, now=start)
    assert claim.event_id == recorded.event_id
    assert claim.body == b"t:running:1000"
    assert claim.headers == HEADERS
    assert (claim.attempts, claim.state) == (1, ForwardState.SENDING)
    # Held: nobody else gets it while the lease runs.
    assert await store.claim_forwards(limit=10, lease_ms=60_000, now=start + 10_000) == []
    # The worker died: after the lease another claim takes it over with a new fence.
    [again] = await store.claim_forwards(limit=10, lease_ms=60_000, now=start + 80_000)
    assert (again.id, again.attempts, again.fence) == (claim.id, 2, claim.fence + 1)
    stale = await store.finish_forward(claim, ForwardAttempt(ForwardState.DELIVERED, 0, 200, None))
    assert stale is False
    assert await store.finish_forward(
        again, ForwardAttempt(ForwardState.DEAD, 0, 503, "the consumer answered 503")
    )
    dead = await store.list_forwards(state=ForwardState.DEAD, limit=10, cursor=None)
    assert [(f.id, f.last_status, f.attempts) for f in dead] == [(claim.id, 503, 2)]


async def test_release_claimed_forwards(store: AnyStore) -> None:
    for n in range(2):
        await store.ingest(forwarded(f"t{n}", 1000 + n))
    claims = await store.claim_forwards(limit=1, lease_ms=600_000)
    assert await store.release_claimed_forwards() == 1
    by_id = {c.id: c for c in await store.claim_forwards(limit=10, lease_ms=600_000)}
    assert len(by_id) == 2  # the released one is due again at once, next to the other
    again = by_id[claims[0].id]
    assert (again.attempts, again.fence) == (2, claims[0].fence + 1)


async def test_retry_dead_and_prune_delivered(store: AnyStore) -> None:
    for n in range(3):
        await store.ingest(forwarded(f"t{n}", 1000 + n))
    claims = await store.claim_forwards(limit=10, lease_ms=60_000)
    assert len(claims) == 3
    for claim in claims[:2]:
        await store.finish_forward(
            claim, ForwardAttempt(ForwardState.DEAD, 0, None, "ConnectError")
        )
    await store.finish_forward(claims[2], ForwardAttempt(ForwardState.DELIVERED, 0, 204, None))
    [one] = await store.retry_dead_forwards(forward_id=claims[0].id, limit=1)
    assert (one.id, one.state, one.attempts) == (claims[0].id, ForwardState.PENDING, 0)
    assert await store.retry_dead_forwards(forward_id=claims[2].id, limit=1) == []  # delivered
    rest = await store.retry_dead_forwards(limit=500)
    assert [f.id for f in rest] == [claims[1].id]
    # Retention deletes delivered forwards older than the cut-off, and only those.
    pruned = await store.prune(2**62, batch=100)
    assert pruned["forwards"] == 1
    left = await store.list_forwards(state=None, limit=10, cursor=None)
    assert sorted(f.id for f in left) == sorted(c.id for c in claims[:2])


async def test_replicas_never_claim_one_forward_twice(pg_url: str) -> None:
    # Three PostgreSQL replicas claim the same outbox at once, over and over: every forward
    # is claimed exactly once (FOR UPDATE SKIP LOCKED, then the lease keeps it).
    stores = [PgStore(pg_url, metrics_interval=0.2) for _ in range(3)]
    for replica in stores:
        await replica.start()
    try:
        recorded = await asyncio.gather(
            *(stores[n % 3].ingest(forwarded(f"t{n}", 1000 + n)) for n in range(60))
        )
        claimed: list[int] = []
        for _ in range(10):
            rounds = await asyncio.gather(
                *(s.claim_forwards(limit=4, lease_ms=60_000) for s in stores for _ in range(2))
            )
            claimed += [c.id for batch in rounds for c in batch]
        assert len(claimed) == len(set(claimed)) == 60
        forwards = await stores[0].list_forwards(state=None, limit=100, cursor=None)
        assert sorted(f.event_id for f in forwards) == sorted(
            r.event_id for r in recorded if r.event_id is not None
        )
    finally:
        for replica in stores:
            await replica.stop()
