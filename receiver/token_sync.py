"""Every replica takes up a callback token rotated by another one.

``POST /api/token/rotate`` (or ``relaywarden token rotate``) stores a new token; the
replica that answers uses it at once. On PostgreSQL the rotation's commit sends
``NOTIFY``, the store's listener sets ``Store.tokens_changed``, and this service reloads
the stored token into the runtime: the other replicas accept the new token and refuse the
old one within a round trip of the commit. The listener sets the event again after each
reconnect, so a rotation made while its connection was down is picked up then.

There is no grace period for the old token: a rotation is how an operator withdraws a
token that leaked. The CallbackUrls relaywarden registered for its relays carry per-relay
tokens, which derive from a key the rotation keeps (``receiver.auth``), so tasks created
before the rotation go on calling back.
"""

from __future__ import annotations

import asyncio
import contextlib

import structlog

from receiver.redaction import register_secrets
from receiver.runtime import Runtime
from receiver.store.base import StoreUnavailable

__all__ = ["TokenSync"]

log = structlog.get_logger("relaywarden.api")


class TokenSync:
    """Reloads the callback token whenever the store says it may have changed."""

    name = "token-sync"

    def __init__(self, runtime: Runtime, *, retry_seconds: float = 1.0) -> None:
        self.runtime = runtime
        self.retry = retry_seconds
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the service waits for rotations."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start waiting for rotations."""
        self._task = asyncio.create_task(self._run(), name="relaywarden-token-sync")

    async def stop(self) -> None:
        """Stop waiting."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def reload(self) -> bool:
        """Take the stored token (and per-relay key); True when it differed from the one used."""
        runtime = self.runtime
        tokens = await runtime.store.callback_tokens(
            runtime.settings.callback_token, may_create=False
        )
        if (tokens.callback, tokens.relay_key) == (
            runtime.callback_token,
            runtime.relay_token_key,
        ):
            return False
        register_secrets(tokens.callback)  # masked in every log line before it is used
        runtime.callback_token = tokens.callback
        runtime.relay_token_key = tokens.relay_key
        log.warning("callback_token_reloaded")
        return True

    async def _run(self) -> None:
        changed = self.runtime.store.tokens_changed
        while True:
            await changed.wait()
            changed.clear()
            try:
                await self.reload()
            except StoreUnavailable as exc:
                log.warning("callback_token_reload_failed", error=str(exc))
                await asyncio.sleep(self.retry)
                changed.set()  # try again: the rotation is still to be taken up
