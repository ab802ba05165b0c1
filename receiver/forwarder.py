"""The forwarder: delivers the outbox of accepted callbacks to ``RELAYWARDEN_FORWARD_URL``.

A background service of ``serve`` when forwarding is on. It claims due forwards under a
lease (``receiver.store.forwards``), POSTs each body with its original headers and our
signature (``receiver.forward_signing``), and records the outcome: delivered on a 2xx;
otherwise retried after an exponential backoff (``RELAYWARDEN_FORWARD_BACKOFF_SECONDS``
doubled per attempt, at most an hour) until ``RELAYWARDEN_FORWARD_MAX_ATTEMPTS``, then
dead (``GET /api/forwards?state=dead``, retried by hand). Callbacks never wait for it:
they only commit the outbox row and wake it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import urlsplit

import httpx
import structlog

from receiver import metrics
from receiver.config import Settings
from receiver.domain.forwards import ClaimedForward, ForwardAttempt, ForwardState
from receiver.forward_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature
from receiver.store.base import Store
from receiver.store.rows import now_ms

__all__ = ["Forwarder", "backoff_ms"]

log = structlog.get_logger("relaywarden.forwarder")

_MAX_BACKOFF_MS = 3_600_000


def backoff_ms(base_seconds: float, attempts: int) -> int:
    """The wait after failed attempt number ``attempts`` (1-based): doubling, capped."""
    return int(min(base_seconds * 1000 * 2 ** max(attempts - 1, 0), _MAX_BACKOFF_MS))


class Forwarder:
    """Claims due forwards and delivers them, a batch at a time."""

    name = "forwarder"

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        wakeup: asyncio.Event,
        batch: int = 16,
        poll_seconds: float = 1.0,
        sole_worker: bool = False,
    ) -> None:
        assert settings.forward_url is not None and settings.forward_secret is not None
        self.store = store
        self.url = settings.forward_url
        self._secret = settings.forward_secret
        self.max_attempts = settings.forward_max_attempts
        self.backoff_seconds = settings.forward_backoff_seconds
        self.timeout = settings.forward_timeout_seconds
        # A claim outlives the longest attempt, so no other replica sends it meanwhile.
        self.lease_ms = int((2 * self.timeout + 5) * 1000)
        self.wakeup = wakeup
        self.batch = batch
        self.poll_seconds = poll_seconds
        #: One process owns the store (SQLite): claims found at start are a dead run's.
        self.sole_worker = sole_worker
        self._client: httpx.AsyncClient | None = None
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        """True while the delivery loop runs."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Start delivering (the URL is logged without path or query: they may hold a key)."""
        if self.sole_worker:  # sent again now rather than when the dead run's lease ends
            released = await self.store.release_claimed_forwards()
            if released:
                log.info("forwards_released", count=released)
        self._client = httpx.AsyncClient(timeout=self.timeout, follow_redirects=False)
        self._task = asyncio.create_task(self._loop(), name="relaywarden-forwarder")
        log.info("forwarder_started", host=urlsplit(self.url).netloc.rpartition("@")[2])

    async def stop(self) -> None:
        """Stop; a forward being sent stays claimed and is sent again when its lease ends."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._client is not None:
            await self._client.aclose()

    async def _loop(self) -> None:
        while True:
            try:
                delivered = await self.run_once()
            except Exception as exc:  # the store is down: try again after a pause
                log.error("forwarder_failed", error=str(exc))
                delivered = 0
            if delivered == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self.wakeup.wait(), self.poll_seconds)
                self.wakeup.clear()

    async def run_once(self) -> int:
        """Claim one batch of due forwards and attempt each; how many were claimed."""
        claimed = await self.store.claim_forwards(limit=self.batch, lease_ms=self.lease_ms)
        await asyncio.gather(*(self._attempt(claim) for claim in claimed))
        return len(claimed)

    async def _attempt(self, claim: ClaimedForward) -> None:
        assert self._client is not None
        timestamp = str(int(time.time()))
        headers = {
            **claim.headers,
            TIMESTAMP_HEADER: timestamp,
            SIGNATURE_HEADER: signature(self._secret, timestamp, claim.body),
            "x-relaywarden-source": claim.source,
            "x-relaywarden-event-id": str(claim.event_id),
            "x-relaywarden-forward-id": str(claim.id),
            "x-relaywarden-attempt": str(claim.attempts),
        }
        started = time.perf_counter()
        status: int | None = None
        try:
            response = await self._client.post(self.url, content=claim.body, headers=headers)
            status = response.status_code
            error = None if 200 <= status < 300 else f"the consumer answered {status}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        now = now_ms()
        if error is None:
            state, outcome, due = ForwardState.DELIVERED, "delivered", now
        elif claim.attempts >= self.max_attempts:
            state, outcome, due = ForwardState.DEAD, "dead", now
        else:
            state, outcome = ForwardState.PENDING, "retried"
            due = now + backoff_ms(self.backoff_seconds, claim.attempts)
        kept = await self.store.finish_forward(claim, ForwardAttempt(state, due, status, error))
        if not kept:  # our lease ended and another claim owns the forward now
            log.warning("forward_lease_lost", forward_id=claim.id)
            return
        metrics.forwards_total.labels(outcome).inc()
        emit = log.info if error is None else log.warning
        emit(
            "forward",
            forward_id=claim.id,
            event_id=claim.event_id,
            source=claim.source,
            outcome=outcome,
            attempt=claim.attempts,
            status=status,
            error=error,
            duration_ms=round((time.perf_counter() - started) * 1000, 3),
        )
