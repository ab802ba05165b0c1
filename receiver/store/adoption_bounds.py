"""Applying the adoption bounds (``receiver.domain.adoption``) inside the callback
transaction, on both backends and both write paths.

The SQLite batch and the one-event transaction pass every plan through ``bound_adoption``
before writing it; only a plan that adopts (``new_relay``) costs the two counts, which the
``relays_by_origin_created`` index answers.
"""

from __future__ import annotations

import structlog

from receiver import metrics
from receiver.domain.adoption import AdoptionLimits
from receiver.domain.plan import Plan
from receiver.domain.states import RelayOrigin, RelayState
from receiver.store.dialect import Db

__all__ = ["adopted_counts", "bound_adoption"]

log = structlog.get_logger("relaywarden.store")

_MINUTE_MS = 60_000


def adopted_counts(conn: Db, now: int) -> tuple[int, int]:
    """(relays adopted from callbacks and not deleted, those adopted in the last minute)."""
    row = conn.execute(
        "SELECT count(*), coalesce(sum(CASE WHEN created_at_ms > ? THEN 1 ELSE 0 END), 0) "
        "FROM relays WHERE origin = ? AND state != ?",
        (now - _MINUTE_MS, RelayOrigin.CALLBACK.value, RelayState.DELETED.value),
    ).fetchone()
    return int(row[0]), int(row[1])


def bound_adoption(
    conn: Db, plan: Plan, limits: AdoptionLimits | None, task_id: str, now: int
) -> Plan:
    """``plan``, or an empty plan when it adopts a task beyond the limits."""
    if plan.new_relay is None or limits is None:
        return plan
    reason = limits.refusal(*adopted_counts(conn, now))
    if reason is None:
        return plan
    # Counted when decided: a batch rolled back and run again may count it twice.
    metrics.adoptions_refused_total.labels(reason).inc()
    log.warning("adoption_refused", task_id=task_id, reason=reason)
    return Plan()
