"""The relay as operators declare it and as relaywarden keeps it.

Provider parameters keep the provider's own names (``SourceUrls``, ``DstUrl``,
``SdkAppId``), so a declaration reads like the API call it turns into. Every optional
field defaults to None and is left out when encoded, so stored and shown JSON has exactly
the keys that were given; later kinds of destination and follow-up (an OSS live channel,
an ARTC channel and its transcoding) arrive as further optional fields of ``RelaySpec``
and ``Relay`` without changing the existing shapes.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec

from receiver.domain.destinations import (
    ArtcSpec,
    ArtcTranscodeSpec,
    DestinationSpec,
    follow_up_problem,
)
from receiver.domain.states import ChannelState, RelayOrigin, RelayState, TranscodeState

__all__ = [
    "REQUIRED_CONFIG_KEYS",
    "AdoptSpec",
    "PullToPushSpec",
    "RecreatePolicy",
    "Relay",
    "RelaySpec",
    "TrtcIngestSpec",
    "declaration_problem",
    "missing_config_keys",
    "new_relay_id",
    "parse_provider_time",
]

#: CreateLivePullToPush parameters a relay cannot be (re-)created without.
REQUIRED_CONFIG_KEYS = ("Region", "SourceType", "SourceUrls", "DstUrl", "EndTime")


class RecreatePolicy(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """How hard relaywarden tries to re-create a relay's task."""

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

    def recent_attempts(self, attempts_ms: list[int], now_ms: int) -> list[int]:
        """The re-creation attempts that count against this policy at ``now_ms``."""
        horizon = now_ms - self.within_seconds * 1000
        return [t for t in attempts_ms if t > horizon]

    def delay_seconds(self, previous_attempts: int) -> float:
        """Growing delay before the next attempt: none for the first, then doubling."""
        if previous_attempts <= 0:
            return 0.0
        delay = self.base_delay_seconds * 2 ** (previous_attempts - 1)
        return float(min(delay, self.max_delay_seconds))

    def too_close_to_end(self, end: datetime | None, now_ms: int) -> bool:
        """True when ``end`` leaves less than ``min_remaining_seconds`` for a new task."""
        return end is not None and end.timestamp() * 1000 - now_ms <= (
            self.min_remaining_seconds * 1000
        )


class AdoptSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Take over an existing pull-to-push task."""

    Region: str
    TaskId: str


class PullToPushSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """CreateLivePullToPush parameters a relay keeps and re-sends on re-creation.

    All optional, because a relay adopted from a callback may know only part of them until
    DescribeLivePullToPush fills the rest in. ``CallbackUrl`` is set by relaywarden when it
    sends the call; a declaration that carries one is refused.
    """

    Region: str | None = None
    TaskName: str | None = None
    SourceType: str | None = None
    SourceProtocol: str | None = None
    SourceUrls: list[str] | None = None
    DstUrl: str | None = None
    StartTime: str | None = None
    EndTime: str | None = None
    RetryCount: int | None = None
    RetryInterval: int | None = None
    RepeatNumber: int | None = None
    FileIndex: int | None = None
    Offset: int | None = None
    CallbackUrl: str | None = None

    def merged(self, newer: PullToPushSpec) -> PullToPushSpec:
        """This configuration with every field ``newer`` sets taken from ``newer``."""
        given = {f: v for f in newer.__struct_fields__ if (v := getattr(newer, f)) is not None}
        return msgspec.structs.replace(self, **given)


class TrtcIngestSpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True, omit_defaults=True):
    """A TRTC stream ingest: StartStreamIngest parameters, or ``TaskId`` to link a running one."""

    SdkAppId: int
    TaskId: str | None = None
    RoomId: str | None = None
    RoomIdType: int | None = None
    UserId: str | None = None
    UserSig: str | None = None
    PrivateMapKey: str | None = None
    StreamUrl: str | None = None
    SeekSecond: int | None = None
    AutoPush: bool | None = None
    RepeatNum: int | None = None
    MaxDuration: int | None = None
    Volume: int | None = None
    EnableProgress: bool | None = None
    Tempo: float | None = None
    IdleTimeout: int | None = None

    def redacted(self) -> TrtcIngestSpec:
        """The parameters safe to show: ``UserSig`` and ``PrivateMapKey`` masked."""
        return msgspec.structs.replace(
            self,
            UserSig=None if self.UserSig is None else "***",
            PrivateMapKey=None if self.PrivateMapKey is None else "***",
        )


class RelaySpec(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Body of ``POST /api/relays``: ``pull_to_push`` (create) or ``adopt``, never both."""

    name: str
    pull_to_push: PullToPushSpec | None = None
    adopt: AdoptSpec | None = None
    trtc_ingest: TrtcIngestSpec | None = None
    recreate: RecreatePolicy = msgspec.field(default_factory=RecreatePolicy)
    destination: DestinationSpec | None = None
    artc: ArtcSpec | None = None
    artc_transcode: ArtcTranscodeSpec | None = None


class Relay(msgspec.Struct, frozen=True, kw_only=True):
    """A relay as the store keeps it."""

    id: str
    name: str
    state: RelayState
    origin: RelayOrigin
    region: str
    pull_to_push: PullToPushSpec
    trtc_ingest: TrtcIngestSpec | None = None
    recreate: RecreatePolicy = msgspec.field(default_factory=RecreatePolicy)
    current_task_id: str | None = None
    generation: int = 0
    recreate_attempts: list[int] = msgspec.field(default_factory=list)
    failure_reason: str | None = None
    created_at_ms: int = 0
    updated_at_ms: int = 0
    destination: DestinationSpec | None = None
    artc: ArtcSpec | None = None
    artc_transcode: ArtcTranscodeSpec | None = None
    channel_state: ChannelState | None = None
    channel_play_url: str | None = None
    transcode_state: TranscodeState | None = None
    transcode_task_id: str | None = None

    def missing_config(self) -> list[str]:
        """Keys a re-creation needs that the kept configuration lacks.

        A relay with a ``destination`` gets its ``DstUrl`` anew at every creation, so the
        kept configuration never has one and needs none.
        """
        missing = missing_config_keys(self.pull_to_push)
        return [k for k in missing if not (k == "DstUrl" and self.destination is not None)]


def parse_provider_time(value: str | None) -> datetime | None:
    """A ``yyyy-MM-ddTHH:mm:ssZ`` provider time as an aware datetime, or None."""
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def missing_config_keys(config: PullToPushSpec) -> list[str]:
    """Keys a re-creation needs that ``config`` lacks."""
    return [key for key in REQUIRED_CONFIG_KEYS if getattr(config, key) in (None, "", [])]


def declaration_problem(spec: RelaySpec, now: datetime) -> str | None:
    """A message saying what is wrong with a decoded relay declaration, or None."""
    if not spec.name.strip():
        return "name must not be empty"
    if (spec.pull_to_push is None) == (spec.adopt is None):
        return "give exactly one of pull_to_push (create a task) or adopt (take one over)"
    if spec.pull_to_push is not None:
        problem = _config_problem(spec.pull_to_push, now, spec.destination is not None)
        if problem is not None:
            return problem
    elif spec.destination is not None:
        return "destination belongs to a relay declared with pull_to_push, not to adopt"
    problem = follow_up_problem(spec.destination, spec.artc, spec.artc_transcode)
    if problem is not None:
        return problem
    ingest = spec.trtc_ingest
    if ingest is not None and ingest.TaskId is None:
        needed = ("RoomId", "RoomIdType", "UserId", "UserSig", "StreamUrl")
        lacking = [k for k in needed if getattr(ingest, k) in (None, "")]
        if lacking:
            return (
                "trtc_ingest needs either TaskId (link a running ingest) or start "
                f"parameters; missing {', '.join(lacking)}"
            )
    return None


def _config_problem(config: PullToPushSpec, now: datetime, has_destination: bool) -> str | None:
    if has_destination and config.DstUrl is not None:
        return "give either pull_to_push.DstUrl or a destination, never both"
    missing = missing_config_keys(config)
    if has_destination:
        missing = [k for k in missing if k != "DstUrl"]
    if missing:
        return f"pull_to_push lacks {', '.join(missing)}; or declare a destination instead"
    if not all(config.SourceUrls or ()):
        return "pull_to_push.SourceUrls must be a list of URLs"
    if config.CallbackUrl is not None:
        return "pull_to_push.CallbackUrl is set by relaywarden; leave it out"
    end = parse_provider_time(config.EndTime)
    if end is None:
        return "pull_to_push.EndTime must look like 2026-11-22T12:00:00Z"
    if end <= now:
        return "pull_to_push.EndTime is in the past"
    if config.StartTime is not None and parse_provider_time(config.StartTime) is None:
        return "pull_to_push.StartTime must look like 2026-11-22T10:00:00Z"
    return None


def new_relay_id() -> str:
    """A fresh relay id (short, URL-safe)."""
    return uuid.uuid4().hex[:16]
