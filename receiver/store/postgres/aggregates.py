"""Scrape-time gauges of a shared database, computed by one replica only.

Every replica exports its own counters (callbacks, job runs), and Prometheus sums them.
Gauges computed from the database (tasks by status, pending jobs, relays by state) would be
counted once per replica by such a sum, so only the replica holding the session-level
advisory lock "metrics leader" exports them; the others export none of those series. The
lock is tied to the leader's connection: when that replica dies, the lock is released and
another replica takes it at its next refresh.

The Prometheus collector calls the store synchronously, so the leader refreshes the values
in a thread every ``interval`` seconds and a scrape reads the latest refresh.

The same leader runs the cluster's periodic rounds (reconciler, retention, orphan sweep):
before each round a replica asks :meth:`AggregateRefresher.confirm_leader`, which takes
the lock if it is free and, when held, proves it still is with a query on its connection.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import psycopg
import structlog

from receiver.store import queries
from receiver.store.base import AggregatesElsewhere, StoreUnavailable
from receiver.store.dialect import PgConnection
from receiver.store.forwards import forward_counts

__all__ = ["METRICS_LEADER_LOCK", "AggregateRefresher", "Aggregates"]

#: Advisory lock key of the metrics leader ("rwmetric" as an int64).
METRICS_LEADER_LOCK = 0x72776D6574726963

log = structlog.get_logger("relaywarden.store")


@dataclass(frozen=True, slots=True)
class Aggregates:
    """One refresh of the database-wide gauges."""

    task_counts: list[tuple[str, str, int]]
    pending_jobs: tuple[list[tuple[str, int]], int | None]
    relay_counts: list[tuple[str, int]]
    forward_counts: list[tuple[str, int]]
    relays_not_running: int
    dead_jobs: int


class AggregateRefresher:
    """Holds the latest aggregates while this replica is the metrics leader."""

    def __init__(self, url: str, *, interval: float = 5.0) -> None:
        self._url = url
        self._interval = interval
        self._conn: psycopg.Connection[Any] | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._latest: Aggregates | None = None
        self._error: str | None = None
        self._lock = threading.Lock()  # one refresh at a time on the one connection
        self.leader = False

    def start(self) -> None:
        """Refresh once now (so the first scrape has values), then every ``interval``."""
        self.refresh()
        self._stop.clear()
        self._thread = threading.Thread(
            target=self._run, name="relaywarden-pg-aggregates", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop refreshing and give the leadership up (closing the lock's connection)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None
        with self._lock:
            self._close()

    def latest(self) -> Aggregates:
        """The last refresh; raises when another replica exports them or the refresh failed."""
        if self._error is not None:
            raise StoreUnavailable(f"the metrics refresh failed: {self._error}")
        if not self.leader or self._latest is None:
            raise AggregatesElsewhere("another replica exports the database gauges")
        return self._latest

    def refresh(self) -> None:
        """Take (or keep) the leadership and, as leader, recompute the aggregates."""
        with self._lock:
            self._refresh()

    def confirm_leader(self) -> bool:
        """Refresh now; True when this replica holds the leadership (its lock's session lives)."""
        with self._lock:
            self._refresh()
            return self.leader and self._error is None

    def _refresh(self) -> None:
        try:
            if self._conn is None or self._conn.closed:
                self._conn = psycopg.connect(self._url, autocommit=True)
                self.leader = False
            if not self.leader:
                row = self._conn.execute(
                    "SELECT pg_try_advisory_lock(%s)", (METRICS_LEADER_LOCK,)
                ).fetchone()
                self.leader = bool(row and row[0])
                if self.leader:
                    log.info("metrics_leader_acquired")
            if self.leader:
                conn = PgConnection(self._conn)
                self._latest = Aggregates(
                    queries.task_counts(conn),
                    queries.pending_jobs(conn),
                    queries.relay_counts(conn),
                    forward_counts(conn),
                    queries.relays_not_running(conn),
                    queries.dead_jobs(conn),
                )
            self._error = None
        except psycopg.Error as exc:
            self._error = str(exc)
            self._close()

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.refresh()

    def _close(self) -> None:
        self.leader = False
        self._latest = None
        if self._conn is not None:
            self._conn.close()
            self._conn = None
