"""The parts of a relay's view about its destination and ARTC follow-ups, and the WHIP answer.

Secrets stay out: transcode ``UserToken``s are masked by the relay view, signed URL
parameters are masked wherever a provider body is shown, and a WHIP address appears only in
the one answer that minted it.
"""

from __future__ import annotations

import msgspec

from receiver.domain.followups import channel_of
from receiver.domain.relay import Relay
from receiver.domain.states import ChannelState, RelayState, TranscodeState
from receiver.relay_providers import ChannelReading, WhipGrant
from receiver.timefmt import iso_time

__all__ = [
    "ChannelView",
    "TranscodeView",
    "WhipRequest",
    "WhipView",
    "failed_hint",
]


class ChannelView(msgspec.Struct, frozen=True, omit_defaults=True):
    """The relay's OSS LiveChannel: what relaywarden set it to and, when read, its status.

    ``status`` is GetLiveChannelStat's ``Idle``, ``Live`` or ``Disabled``, read when one
    relay is shown (cached a few seconds); ``status_error`` says why it could not be read.
    """

    bucket: str
    channel_name: str
    state: ChannelState | None = None
    play_url: str | None = None
    status: str | None = None
    status_read_at: str | None = None
    status_error: str | None = None

    @classmethod
    def of(cls, relay: Relay, reading: ChannelReading | None) -> ChannelView | None:
        """The view of the relay's channel (None when it has none)."""
        channel = channel_of(relay)
        if channel is None:
            return None
        return cls(
            bucket=channel.Bucket,
            channel_name=channel.ChannelName,
            state=relay.channel_state,
            play_url=relay.channel_play_url,
            status=None if reading is None else reading.status,
            status_read_at=None if reading is None else iso_time(reading.read_at_ms),
            status_error=None if reading is None else reading.error,
        )


class TranscodeView(msgspec.Struct, frozen=True, omit_defaults=True):
    """The relay's ARTC cloud transcode job: its TaskId and what relaywarden last knew."""

    state: TranscodeState | None = None
    task_id: str | None = None

    @classmethod
    def of(cls, relay: Relay) -> TranscodeView | None:
        """The view of the relay's transcode (None when it declares none)."""
        if relay.artc_transcode is None:
            return None
        return cls(relay.transcode_state, relay.transcode_task_id)


def failed_hint(relay: Relay) -> str | None:
    """For a failed relay: how to keep the channel fed with a backup WHIP ingest."""
    if relay.state is not RelayState.FAILED:
        return None
    route = f"POST /api/relays/{relay.id}/whip"
    if relay.artc is None:
        return (
            f"No task carries this relay any more. A backup WHIP ingest URL ({route}) needs "
            "an ARTC channel: declare the relay with artc {AppId, ChannelId} to use one."
        )
    return (
        f"No task carries this relay any more. Mint a backup WHIP ingest URL for ARTC "
        f"channel {relay.artc.ChannelId} with {route} (optional body "
        '{"DisplayName": "...", "ExpireTime": 43200}) and push to it from OBS; once the '
        "source is fixed, retry the dead job (POST /api/jobs/{id}/retry)."
    )


class WhipRequest(msgspec.Struct, forbid_unknown_fields=True, frozen=True):
    """Body of ``POST /api/relays/{id}/whip`` (optional): the publisher's name and lifetime."""

    DisplayName: str | None = None
    ExpireTime: int = 43_200


class WhipView(msgspec.Struct, frozen=True):
    """A minted WHIP ingest URL: shown this once, never stored or logged."""

    WhipAddress: str
    UserId: str
    ExpireTime: int
    expires_at: str | None

    @classmethod
    def of(cls, grant: WhipGrant) -> WhipView:
        """The answer for a grant."""
        return cls(
            grant.address, grant.user_id, grant.expire_seconds, iso_time(grant.expires_at * 1000)
        )
