"""OSS LiveChannel actions: resolve a relay's destination into a freshly signed ``DstUrl``,
and disable the channel when the relay ends.

The stored declaration never holds a signed URL: every creation (first or re-creation) puts
the channel (PutLiveChannel, which also enables it again) and signs its RTMP publish URL
anew. The expiry is chosen once per job and kept in the job, so a re-run of the same job
(its Create answer lost) signs the identical URL and finds the task it already created by
that DstUrl; a new job signs a new one.
"""

from __future__ import annotations

import time

import msgspec
import structlog

from handlers.actions.common import is_code, relay_to_release
from handlers.context import ActionContext
from handlers.oss_livechannel import LiveChannelTarget
from handlers.oss_signing import mask_signed_url
from handlers.outcome import ProviderError
from receiver.domain.followups import channel_of
from receiver.domain.relay import Relay, parse_provider_time
from receiver.domain.states import ChannelState

__all__ = [
    "URL_EXPIRY_MARGIN_SECONDS",
    "disable_channel",
    "disable_relay_channel",
    "with_destination",
]

log = structlog.get_logger("relaywarden.actions")

#: A signed URL outlives the task's EndTime by this much (the provider may reconnect late).
URL_EXPIRY_MARGIN_SECONDS = 300
_CHANNEL_GONE = ("NoSuchLiveChannel",)


def _expiry(relay: Relay, url_expires_seconds: int, now: float) -> int:
    """Unix seconds the URL is valid until: the declared lifetime, and never before EndTime."""
    end = parse_provider_time(relay.pull_to_push.EndTime)
    covering = int(end.timestamp()) + URL_EXPIRY_MARGIN_SECONDS if end is not None else 0
    return max(int(now) + url_expires_seconds, covering)


async def with_destination(ctx: ActionContext, relay: Relay) -> Relay:
    """``relay`` with ``pull_to_push.DstUrl`` set to its channel's freshly signed publish URL.

    In memory only: the caller hands it to CreateLivePullToPush and nothing stores it. A
    relay without a destination comes back unchanged.
    """
    channel = channel_of(relay)
    if channel is None:
        return relay
    oss = ctx.oss_client()
    target = LiveChannelTarget(
        frag_duration=channel.FragDuration,
        frag_count=channel.FragCount,
        playlist_name=channel.PlaylistName,
        description=f"relaywarden relay {relay.id}",
    )
    urls = await oss.put_live_channel(
        channel.Bucket, channel.ChannelName, target, region=channel.Region
    )
    expires = ctx.job.payload.get("url_expires")
    if not isinstance(expires, int):
        expires = _expiry(relay, channel.UrlExpiresSeconds, time.time())
        await ctx.store.note_in_job(ctx.job, "url_expires", expires)
    signed = oss.sign_publish_url(
        urls.publish_url,
        bucket=channel.Bucket,
        channel=channel.ChannelName,
        expires_at=expires,
        playlist_name=channel.PlaylistName,
    )
    await ctx.store.record_channel(ctx.job, relay.id, ChannelState.ENABLED, urls.play_url)
    log.info(
        "channel_ready",
        relay_id=relay.id,
        bucket=channel.Bucket,
        channel=channel.ChannelName,
        publish_url=mask_signed_url(signed),
        url_expires=expires,
    )
    config = msgspec.structs.replace(relay.pull_to_push, DstUrl=signed)
    return msgspec.structs.replace(relay, pull_to_push=config)


async def disable_relay_channel(ctx: ActionContext, relay: Relay) -> bool:
    """Disable the relay's channel when its declaration asks for it; True when done here."""
    channel = channel_of(relay)
    if channel is None or not channel.DisableOnEnd or relay.channel_state is None:
        return False
    try:
        await ctx.oss_client().put_live_channel_status(
            channel.Bucket, channel.ChannelName, enabled=False, region=channel.Region
        )
    except ProviderError as error:
        if not is_code(error, _CHANNEL_GONE):
            raise
    await ctx.store.record_channel(ctx.job, relay.id, ChannelState.DISABLED)
    log.info("channel_disabled", relay_id=relay.id, channel=channel.ChannelName)
    return True


async def disable_channel(ctx: ActionContext) -> None:
    """Disable the channel of a relay that ended or failed (PutLiveChannelStatus ``disabled``)."""
    await disable_relay_channel(ctx, await relay_to_release(ctx, "channel"))
