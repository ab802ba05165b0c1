"""Provider tasks pointing at this service that no relay knows, as the last sweep found.

The reconciler fills the board on each sweep (``handlers.orphans``); ``GET /api/orphans``
(``receiver.orphans_api``) and the ``relaywarden_orphan_tasks`` gauge read it.
"""

from __future__ import annotations

import threading

import msgspec

from receiver import metrics
from receiver.views import iso_time

__all__ = ["OrphanBoard", "OrphanList", "OrphanTask"]


class OrphanTask(msgspec.Struct, frozen=True, kw_only=True):
    """A task whose CallbackUrl points here but that no relay knows.

    ``adopted`` when relaywarden took it over as a relay (through the callback path);
    ``relay_id`` is the relay its CallbackUrl names, if any.
    """

    provider: str
    region: str
    task_id: str
    status: int | None
    dst_url: str | None
    relay_id: str | None
    adopted: bool
    seen_at: str | None


class OrphanList(msgspec.Struct, frozen=True):
    """The last sweep's orphans; ``swept_at`` is None before the first sweep."""

    items: list[OrphanTask]
    swept_at: str | None


class OrphanBoard:
    """The orphans the last reconciler sweep found (shared between threads)."""

    def __init__(self) -> None:
        self._items: list[OrphanTask] = []
        self._swept_at: int | None = None
        self._lock = threading.Lock()

    def replace(self, items: list[OrphanTask], swept_at_ms: int) -> None:
        """Publish a sweep's findings."""
        with self._lock:
            self._items = list(items)
            self._swept_at = swept_at_ms
        metrics.orphan_tasks.set(sum(1 for item in items if not item.adopted))

    def snapshot(self) -> OrphanList:
        """The last sweep's orphans."""
        with self._lock:
            return OrphanList(list(self._items), iso_time(self._swept_at))
