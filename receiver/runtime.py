"""The objects a running app shares between its routes."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Protocol
from urllib.parse import quote

from starlette.requests import Request

from receiver.config import Settings
from receiver.orphans import OrphanBoard
from receiver.relay_providers import RelayProviders
from receiver.store.base import CallbackTokens, Store

__all__ = ["BackgroundService", "Runtime", "runtime_of"]


class BackgroundService(Protocol):
    """Something the app starts and stops with its lifespan (the job runner, say)."""

    name: str

    @property
    def running(self) -> bool:
        """True while the service does its work."""
        ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


@dataclass
class Runtime:
    """Settings, store and background services of one app instance."""

    settings: Settings
    store: Store
    services: list[BackgroundService] = field(default_factory=list)
    callback_token: str = ""
    orphans: OrphanBoard = field(init=False)
    providers: RelayProviders | None = None
    #: The key per-relay tokens derive from (the first callback token; survives rotation).
    relay_token_key: str = ""
    #: True when this start made the callback token (the banner shows it this once).
    token_created: bool = False
    #: Set when a callback committed a forward (wakes the forwarder at once).
    forwards_queued: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        self.orphans = OrphanBoard(self.store)

    def set_tokens(self, tokens: CallbackTokens) -> None:
        """Take the store's callback token and per-relay key."""
        self.callback_token = tokens.callback
        self.relay_token_key = tokens.relay_key
        self.token_created = tokens.created

    def callback_url(self, *, relay_id: str | None = None, token: str | None = None) -> str:
        """The Alibaba pull-to-push CallbackUrl to register (with the given token)."""
        base = f"{self.settings.base_url}/callbacks/aliyun/pull-to-push"
        # Encoded: a configured token may hold "&", "+" or "=", which would break the URL.
        url = f"{base}?token={quote(token or self.callback_token, safe='')}"
        if relay_id is not None:
            url += f"&relay={quote(relay_id, safe='')}"
        return url


def runtime_of(request: Request) -> Runtime:
    """The runtime of the app serving ``request``."""
    runtime: Runtime = request.app.state.runtime
    return runtime
