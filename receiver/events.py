"""The normalized event model every provider callback is turned into.

The enums it uses live in ``receiver.domain.states`` and are re-exported here for decoders.
"""

from __future__ import annotations

import hashlib

import msgspec

from receiver.domain.states import TERMINAL_STATUSES, EventKind, Provider, Source, Status

__all__ = [
    "TERMINAL_STATUSES",
    "Event",
    "EventKind",
    "Provider",
    "Source",
    "Status",
    "dedupe_key",
]


class Event(msgspec.Struct, frozen=True, kw_only=True):
    """One provider callback, normalized.

    ``event_time_ms`` is the provider's own time of the event (milliseconds since the
    epoch), or ``None`` when the body carries none; ``raw`` is the body exactly as received.
    ``task_info`` is the task configuration the callback carried, when any; ``context``
    holds routing facts from the callback URL (``relay``, ``region``). ``scope_relay`` is
    the relay whose own token authenticated the callback (``receiver.domain.scope``), None
    for the main token and for the API's replays.
    """

    source: Source
    provider: Provider
    task_id: str
    kind: EventKind
    status: Status
    reason: str
    event_time_ms: int | None
    provider_status: str
    raw: bytes
    task_info: dict[str, object] | None = None
    context: dict[str, str] = msgspec.field(default_factory=dict)
    scope_relay: str | None = None
    #: The callback's headers that travel with its forward; None when forwarding is off
    #: (then nothing is copied into the forwarding outbox).
    forward_headers: dict[str, str] | None = None

    @property
    def dedupe_key(self) -> str:
        """Key under which provider retries of this same event collapse into one."""
        return dedupe_key(
            self.source,
            self.task_id,
            self.kind,
            self.provider_status,
            self.reason,
            self.event_time_ms,
        )


def dedupe_key(
    source: str,
    task_id: str,
    kind: str,
    provider_status: str,
    reason: str,
    event_time_ms: int | None,
) -> str:
    """Hash of the fields a provider retry repeats identically."""
    parts = (
        source,
        task_id,
        kind,
        provider_status,
        reason,
        "" if event_time_ms is None else str(event_time_ms),
    )
    return hashlib.sha256("\x1f".join(parts).encode()).hexdigest()
