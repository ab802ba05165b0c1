"""Forwarding of accepted callbacks to the operator's own consumer: states and records.

A provider allows one CallbackUrl per task; with ``RELAYWARDEN_FORWARD_URL`` set, every
accepted callback is copied into an outbox in its own transaction and delivered from there
(``receiver.forwarder``), so an operator keeps the consumer they had before relaywarden.
"""

from __future__ import annotations

import enum

import msgspec

__all__ = ["FORWARDED_HEADERS", "ClaimedForward", "ForwardAttempt", "ForwardRecord", "ForwardState"]

#: The request headers of a callback that travel with its forward (lower case): the ones a
#: consumer needs to read or verify the body (TRTC signs with ``Sign`` over ``SdkAppId``).
FORWARDED_HEADERS = (
    "content-type",
    "user-agent",
    "sign",
    "sdkappid",
)


class ForwardState(enum.StrEnum):
    """Where one forward of the outbox is.

    pending: waiting for its (next) attempt; sending: claimed by a worker under a lease;
    delivered: the consumer answered 2xx; dead: every attempt failed (retry by hand).
    """

    PENDING = "pending"
    SENDING = "sending"
    DELIVERED = "delivered"
    DEAD = "dead"


class ForwardRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One forward: which event, where it stands, and its last error (no body)."""

    id: int
    event_id: int
    source: str
    state: ForwardState
    attempts: int
    due_at_ms: int
    last_status: int | None
    last_error: str | None
    created_at_ms: int
    updated_at_ms: int


class ForwardAttempt(msgspec.Struct, frozen=True):
    """What one delivery attempt ended in: the forward's next state and when it is due,
    with the consumer's HTTP status and the error (None when delivered)."""

    state: ForwardState
    due_at_ms: int
    status: int | None
    error: str | None


class ClaimedForward(ForwardRecord, frozen=True, kw_only=True):
    """A forward handed to a worker: what to send and the fence of this claim."""

    headers: dict[str, str]
    body: bytes
    fence: int
