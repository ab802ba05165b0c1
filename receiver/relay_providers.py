"""What the operator API asks providers directly, behind an interface the composition root
fills in: a relay's OSS LiveChannel status, and WHIP backup ingest URLs.

``receiver`` never imports the provider clients; ``receiver/assembly.py`` hands the routes an
implementation from ``handlers``. Without one (an app built without the job side) those
answers say the providers are not configured.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from receiver.domain.relay import Relay

__all__ = ["ChannelReading", "ProviderCallFailed", "RelayProviders", "WhipGrant"]


@dataclass(frozen=True, slots=True)
class ChannelReading:
    """A LiveChannel's status as GetLiveChannelStat reported it, or why it could not be read."""

    status: str | None
    read_at_ms: int
    error: str | None = None


@dataclass(frozen=True, slots=True)
class WhipGrant:
    """A freshly minted WHIP ingest URL: a secret, handed out once and never logged."""

    address: str = field(repr=False)
    user_id: str
    expire_seconds: int
    expires_at: int


class ProviderCallFailed(Exception):
    """A provider call made for an API answer failed; ``status`` is the HTTP status to answer."""

    def __init__(
        self, status: int, code: str, message: str, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.retry_after = status, code, message, retry_after


class RelayProviders(Protocol):
    """Provider reads and grants the relay routes need."""

    async def channel_status(self, relay: Relay) -> ChannelReading | None:
        """The relay's channel status (None when it has no channel); never raises."""
        ...

    async def mint_whip(self, relay: Relay, *, display_name: str, expire_seconds: int) -> WhipGrant:
        """CreateRTCWhipStreamAddress for the relay's ARTC channel (raises ProviderCallFailed)."""
        ...
