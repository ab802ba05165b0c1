"""The shape of a relay as operators declare it (design.md, "Relays")."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

__all__ = [
    "REQUIRED_CONFIG_KEYS",
    "AdoptSpec",
    "RecreatePolicy",
    "RelayRequest",
    "missing_config_keys",
    "parse_provider_time",
    "redact_ingest",
]

#: CreateLivePullToPush parameters a relay cannot be (re-)created without.
REQUIRED_CONFIG_KEYS = ("Region", "SourceType", "SourceUrls", "DstUrl", "EndTime")


class RecreatePolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How hard relaywarden tries to re-create a relay's task (design.md ``recreate``)."""

    max_attempts: int = 5
    within_seconds: int = 3600
    min_remaining_seconds: int = 60
    base_delay_seconds: float = 10.0
    max_delay_seconds: float = 300.0

    def __post_init__(self) -> None:
        if self.max_attempts < 1 or self.within_seconds < 1 or self.min_remaining_seconds < 0:
            raise ValueError(
                "recreate needs max_attempts >= 1, within_seconds >= 1, min_remaining_seconds >= 0"
            )
        if self.base_delay_seconds < 0 or self.max_delay_seconds < self.base_delay_seconds:
            raise ValueError("recreate needs 0 <= base_delay_seconds <= max_delay_seconds")


class AdoptSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Take over an existing pull-to-push task."""

    Region: str
    TaskId: str


class RelayRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Body of ``POST /api/relays``: ``pull_to_push`` (create) or ``adopt``, never both."""

    name: str
    pull_to_push: dict[str, Any] | None = None
    adopt: AdoptSpec | None = None
    trtc_ingest: dict[str, Any] | None = None
    recreate: RecreatePolicy = msgspec.field(default_factory=RecreatePolicy)


_SECRET_INGEST_KEYS = ("UserSig", "PrivateMapKey")


def redact_ingest(params: dict[str, Any] | None) -> dict[str, Any] | None:
    """Ingest parameters safe to show: ``UserSig`` and ``PrivateMapKey`` masked."""
    if params is None:
        return None
    return {k: ("***" if k in _SECRET_INGEST_KEYS else v) for k, v in params.items()}


def parse_provider_time(value: Any) -> datetime | None:
    """A ``yyyy-MM-ddTHH:mm:ssZ`` provider time as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def missing_config_keys(config: dict[str, Any]) -> list[str]:
    """Keys a re-creation needs that ``config`` lacks."""
    return [key for key in REQUIRED_CONFIG_KEYS if config.get(key) in (None, "", [])]
