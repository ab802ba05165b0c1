"""Provider tasks pointing at this service that no relay knows, as the last sweep found.

The reconciler fills the board on each sweep (``handlers.orphans``). The sweep is kept in
the store, so ``GET /api/orphans`` (``receiver.orphans_api``) answers the same on every
replica, whichever one swept. The ``relaywarden_orphan_tasks`` gauge is the sweeping
replica's: it runs the rounds (``Store.leads_rounds``), and every other replica reports 0
(:meth:`OrphanBoard.step_down`), so a sum over replicas counts each orphan once.
"""

from __future__ import annotations

import msgspec

from receiver import metrics
from receiver.store.base import Store
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


_ENCODER = msgspec.json.Encoder()
_DECODER = msgspec.json.Decoder(OrphanList)


class OrphanBoard:
    """The orphans the last reconciler sweep found, kept in the store."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def replace(self, items: list[OrphanTask], swept_at_ms: int) -> None:
        """Publish a sweep's findings (to every replica) and count them in the gauge."""
        found = OrphanList(list(items), iso_time(swept_at_ms))
        await self.store.save_orphans(_ENCODER.encode(found).decode())
        metrics.orphan_tasks.set(sum(1 for item in items if not item.adopted))

    def step_down(self) -> None:
        """Another replica sweeps now: its gauge counts the orphans, this one reports 0."""
        metrics.orphan_tasks.set(0)

    async def snapshot(self) -> OrphanList:
        """The last sweep's orphans (an empty list before the first sweep)."""
        blob = await self.store.load_orphans()
        if blob is None:
            return OrphanList([], None)
        try:
            return _DECODER.decode(blob)
        except msgspec.DecodeError:  # written by an older release: the next sweep replaces it
            return OrphanList([], None)
