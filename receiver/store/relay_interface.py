"""The relays part of the store interface: declarations, reads and deletion requests.
``receiver.store.base.Store`` includes it.
"""

from __future__ import annotations

from typing import Protocol

from receiver.domain.records import RelayRecord
from receiver.domain.relay import Relay, RelaySpec
from receiver.domain.states import RelayState
from receiver.store.values import DeclareOutcome

__all__ = ["RelayStore"]


class RelayStore(Protocol):
    """What the relay API, the declare command and the actions read and write of relays."""

    async def declare_relay(self, relay_id: str, spec: RelaySpec) -> Relay:
        """Insert a declared relay, link its ingest, enqueue its create or adopt job."""
        ...

    async def put_relay(self, relay_id: str, spec: RelaySpec) -> tuple[Relay, DeclareOutcome]:
        """Declare the relay named ``spec.name`` idempotently.

        No live relay of that name: declared under ``relay_id`` (``created``). One with the
        same declaration: ``unchanged``. Otherwise its stored pull-to-push parameters,
        ingest start parameters and recreate policy are replaced (``updated``); they take
        effect at the next (re-)creation. Raises ``Conflict`` when the declaration cannot
        describe that relay (create vs adopt, another adopted task, another linked ingest).
        """
        ...

    async def list_relays(
        self, *, state: RelayState | None, limit: int, cursor: str | None
    ) -> tuple[list[RelayRecord], str | None]:
        """Relays newest first with their ingests, and the next cursor (raises BadCursor)."""
        ...

    async def get_relay_record(self, relay_id: str) -> RelayRecord | None:
        """A relay with its ingests and every task it had, or None."""
        ...

    async def get_relay(self, relay_id: str) -> Relay | None:
        """One relay, or None."""
        ...

    async def request_relay_delete(self, relay_id: str) -> Relay | None:
        """Mark a relay ``deleting`` and enqueue its ``delete_task`` job (idempotent)."""
        ...

    # scrape-time aggregate (sync: the Prometheus collector runs in a thread) -------------
    def relay_counts(self) -> list[tuple[str, int]]:
        """(state, count) of relays."""
        ...
