"""The provider reads and grants of the relay routes, over the job side's own clients.

Channel status is read on demand when one relay is shown (``GET /api/relays/{id}``) and
kept for :data:`CHANNEL_STATUS_TTL` seconds, so a dashboard refreshing the page does not
spend the OSS budget; a read that fails or takes longer than :data:`CHANNEL_STATUS_DEADLINE`
is shown as an error instead of delaying the answer. WHIP URLs are minted through the ARTC
client's own 40 calls/s budget and never cached: each call is a new, unique UserId.
"""

from __future__ import annotations

import asyncio
import secrets
import time

from handlers.artc_client import ArtcClient
from handlers.oss_client import OssClient
from handlers.outcome import Outcome, ProviderError
from receiver.domain.followups import channel_of
from receiver.domain.relay import Relay
from receiver.relay_providers import ChannelReading, ProviderCallFailed, WhipGrant

__all__ = ["CHANNEL_STATUS_DEADLINE", "CHANNEL_STATUS_TTL", "ClientRelayProviders", "whip_user_id"]

CHANNEL_STATUS_TTL = 5.0
CHANNEL_STATUS_DEADLINE = 3.0
_HTTP_STATUS = {Outcome.THROTTLED: 429, Outcome.RETRYABLE: 503, Outcome.REJECTED: 502}


def whip_user_id(relay_id: str) -> str:
    """A UserId unique in the channel for one WHIP URL (the provider requires uniqueness)."""
    return f"whip-{relay_id[:16]}-{secrets.token_hex(6)}"


class ClientRelayProviders:
    """:class:`~receiver.relay_providers.RelayProviders` over an OSS and an ARTC client."""

    def __init__(self, oss: OssClient, artc: ArtcClient) -> None:
        self.oss = oss
        self.artc = artc
        self._cache: dict[tuple[str, str, int], tuple[float, ChannelReading]] = {}

    async def channel_status(self, relay: Relay) -> ChannelReading | None:
        """GetLiveChannelStat of the relay's channel, cached briefly; errors become text."""
        channel = channel_of(relay)
        if channel is None:
            return None
        # Any change to the relay (the channel put or disabled) makes a new reading due.
        key = (channel.Bucket, channel.ChannelName, relay.updated_at_ms)
        now = time.monotonic()
        cached = self._cache.get(key)
        if cached is not None and now - cached[0] < CHANNEL_STATUS_TTL:
            return cached[1]
        reading = await self._read(channel.Bucket, channel.ChannelName, channel.Region)
        # Failures are kept as briefly as answers: a page polling a broken channel must not
        # spend the account's OSS budget either.
        self._cache = {k: v for k, v in self._cache.items() if now - v[0] < CHANNEL_STATUS_TTL}
        self._cache[key] = (now, reading)
        return reading

    async def _read(self, bucket: str, name: str, region: str | None) -> ChannelReading:
        read_at = int(time.time() * 1000)
        try:
            stat = await asyncio.wait_for(
                self.oss.get_live_channel_stat(bucket, name, region=region),
                CHANNEL_STATUS_DEADLINE,
            )
        except ProviderError as error:
            return ChannelReading(None, read_at, f"{error.code}: {error.message}")
        except TimeoutError:
            return ChannelReading(None, read_at, f"no answer within {CHANNEL_STATUS_DEADLINE}s")
        return ChannelReading(stat.status.value, read_at)

    async def mint_whip(self, relay: Relay, *, display_name: str, expire_seconds: int) -> WhipGrant:
        """CreateRTCWhipStreamAddress for the relay's ARTC channel with a fresh UserId."""
        if relay.artc is None:
            raise ProviderCallFailed(409, "no_artc", "the relay declares no artc channel")
        user_id = whip_user_id(relay.id)
        try:
            address = await self.artc.create_whip_address(
                relay.artc.AppId,
                relay.artc.ChannelId,
                user_id,
                display_name,
                expire_time=expire_seconds,
            )
        except ProviderError as error:
            raise ProviderCallFailed(
                _HTTP_STATUS.get(error.outcome, 502),
                "provider_error",
                f"CreateRTCWhipStreamAddress failed: {error.code}: {error.message}",
                error.retry_after,
            ) from None
        return WhipGrant(address.address, user_id, expire_seconds, address.expires_at)
