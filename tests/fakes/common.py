"""Machinery shared by the fake providers: calls, faults, QPS, callback delivery, serving."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import threading
import time
from collections import deque
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response, StreamingResponse

from tests.support.servers import serve_in_thread

#: Fault names every fake understands (besides :class:`ErrorFault` instances):
#: ``throttle`` the provider's throttling answer; ``5xx`` its server error; ``bad_gateway`` a
#: 502 whose body is not JSON; ``timeout`` no answer (hang until the client gives up);
#: ``acted_but_lost`` perform the action, then answer the server error; ``acted_but_timeout``
#: perform the action, then hang; ``proxy_page`` a 200 whose body is an HTML page (a proxy
#: or captive portal in between); ``trickle`` a 200 whose body arrives one byte every
#: ``trickle_seconds`` and never completes (until ``hang_seconds`` or the client hangs up).
FAULT_NAMES = frozenset(
    {
        "throttle",
        "5xx",
        "bad_gateway",
        "timeout",
        "acted_but_lost",
        "acted_but_timeout",
        "proxy_page",
        "trickle",
    }
)


@dataclass(frozen=True)
class ErrorFault:
    """Answer the next call with this error (HTTP ``status``, provider ``code``/``message``)."""

    status: int
    code: str
    message: str = "injected fault"
    headers: Mapping[str, str] = field(default_factory=dict)
    acted: bool = False  # perform the action first


Fault = str | ErrorFault


@dataclass
class CallRecord:
    """One request as the fake provider saw it."""

    action: str
    params: dict[str, Any]
    method: str
    time: float  # time.monotonic() when the request arrived
    headers: dict[str, str]
    peer: str  # the client's "host:port" (one connection pool → one port)
    outcome: str = "pending"  # "ok", the error code answered, or "timeout" (no answer)
    status: int | None = None  # HTTP status answered
    fault: str | None = None  # the injected fault that applied, if any
    acted: bool = False  # whether the action changed the fake's state
    ended: float | None = None  # time.monotonic() when a trickled answer stopped


@dataclass
class Delivery:
    """One callback a fake provider sent (or meant to send, when ``lost``)."""

    url: str
    body: bytes
    headers: dict[str, str]
    lost: bool = False  # dropped on purpose: the receiver never saw it
    status: int | None = None  # HTTP status the receiver answered; None if lost or unreachable


class CallbackChannel:
    """Delivers a fake's callbacks over HTTP, records each, and can lose them on request.

    Providers do not promise delivery (a receiver that is down misses events for good), so
    tests of reconciliation need callbacks that never arrive: :meth:`lose_next` drops the
    next ``count`` deliveries, ``lose_all`` every one until it is reset.
    """

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self.deliveries: list[Delivery] = []
        self.lose_all = False
        self._lose_next = 0
        self._lock = threading.Lock()

    def lose_next(self, count: int = 1) -> None:
        """Drop the next ``count`` callbacks instead of delivering them."""
        with self._lock:
            self._lose_next += count

    def reset(self) -> None:
        """Forget deliveries and loss settings."""
        with self._lock:
            self.deliveries.clear()
            self.lose_all = False
            self._lose_next = 0

    def _prepare(self, url: str, body: bytes, headers: Mapping[str, str]) -> Delivery:
        with self._lock:
            lost = self.lose_all or self._lose_next > 0
            if self._lose_next > 0:
                self._lose_next -= 1
            delivery = Delivery(url, body, dict(headers), lost=lost)
            self.deliveries.append(delivery)
        return delivery

    def send(self, url: str, body: bytes, headers: Mapping[str, str]) -> httpx.Response | None:
        """POST ``body`` to ``url``; None when the callback was lost or nobody answered."""
        delivery = self._prepare(url, body, headers)
        if delivery.lost:
            return None
        try:
            response = httpx.post(url, content=body, headers=delivery.headers, timeout=self.timeout)
        except httpx.HTTPError:
            return None
        delivery.status = response.status_code
        return response

    async def asend(
        self, url: str, body: bytes, headers: Mapping[str, str]
    ) -> httpx.Response | None:
        """Async :meth:`send` (for callbacks sent from inside the fake's request handlers)."""
        delivery = self._prepare(url, body, headers)
        if delivery.lost:
            return None
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.post(url, content=body, headers=delivery.headers)
        except httpx.HTTPError:
            return None
        delivery.status = response.status_code
        return response


class FaultQueue:
    """Per-action FIFO queues of faults; the action ``"*"`` applies to any action."""

    def __init__(self) -> None:
        self._queues: dict[str, deque[Fault]] = {}
        self._lock = threading.Lock()

    def add(self, action: str, faults: tuple[Fault, ...]) -> None:
        for fault in faults:
            if isinstance(fault, str) and fault not in FAULT_NAMES:
                raise ValueError(f"unknown fault {fault!r}; use one of {sorted(FAULT_NAMES)}")
        with self._lock:
            self._queues.setdefault(action, deque()).extend(faults)

    def pop(self, action: str) -> Fault | None:
        with self._lock:
            for key in (action, "*"):
                queue = self._queues.get(key)
                if queue:
                    return queue.popleft()
        return None

    def clear(self) -> None:
        with self._lock:
            self._queues.clear()


class QpsWindow:
    """Admit at most ``qps`` calls per key in any ``window`` seconds (a sliding log)."""

    def __init__(self, qps: int | None, window: float = 1.0) -> None:
        self.qps = qps
        self.window = window
        self._starts: dict[str, deque[float]] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        with self._lock:
            self._starts.clear()

    def admit(self, key: str, now: float) -> bool:
        if self.qps is None:
            return True
        with self._lock:
            starts = self._starts.setdefault(key, deque())
            while starts and now - starts[0] >= self.window:
                starts.popleft()
            if len(starts) >= self.qps:
                return False
            starts.append(now)
            return True


def max_in_window(times: list[float], window: float = 1.0) -> int:
    """The largest number of ``times`` that fall within any half-open ``window``."""
    ordered = sorted(times)
    best = 0
    first = 0
    for last, current in enumerate(ordered):
        while current - ordered[first] >= window:
            first += 1
        best = max(best, last - first + 1)
    return best


class FakeProvider(abc.ABC):
    """Base of the fakes: records, faults, QPS, hanging, and serving on a loopback port."""

    app: Starlette

    def __init__(self, *, qps: int | None, hang_seconds: float) -> None:
        self.calls: list[CallRecord] = []
        self.callbacks = CallbackChannel()
        self.hang_seconds = hang_seconds
        self.trickle_seconds = 0.5
        self.answer_delay_seconds = 0.0
        """How long every answer takes (complete and correct, just slow)."""
        self.base_url: str | None = None
        self._faults = FaultQueue()
        self._window = QpsWindow(qps)
        self._lock = threading.RLock()
        self._closing = threading.Event()

    def reset(self) -> None:
        """Forget calls, faults, QPS history, callbacks and state (serving goes on)."""
        with self._lock:
            self.calls.clear()
            self._faults.clear()
            self._window.clear()
            self.callbacks.reset()
            self._reset_state()

    @abc.abstractmethod
    def _reset_state(self) -> None:
        """Forget the provider-specific state (tasks …)."""

    def inject(self, action: str, *faults: Fault) -> None:
        """Queue faults for the next calls of ``action`` (``"*"``: any action), in order."""
        self._faults.add(action, faults)

    def clear_faults(self) -> None:
        """Drop every queued fault."""
        self._faults.clear()

    def calls_for(self, action: str) -> list[CallRecord]:
        """The recorded calls of one action, oldest first."""
        with self._lock:
            return [call for call in self.calls if call.action == action]

    def max_calls_per_window(self, action: str | None = None, window: float = 1.0) -> int:
        """Most calls (of ``action``, or all) that arrived within any ``window`` seconds."""
        with self._lock:
            times = [c.time for c in self.calls if action is None or c.action == action]
        return max_in_window(times, window)

    @contextlib.contextmanager
    def serve(self) -> Iterator[str]:
        """Serve the fake with uvicorn on 127.0.0.1; yield its base URL."""
        self._closing.clear()
        with serve_in_thread(self.app) as url:
            self.base_url = url
            try:
                yield url
            finally:
                self._closing.set()

    def _record(
        self, request: Request, action: str, params: dict[str, Any], arrival: float
    ) -> CallRecord:
        record = CallRecord(
            action=action,
            params=params,
            method=request.method,
            time=arrival,
            headers={k.lower(): v for k, v in request.headers.items()},
            peer=f"{request.client.host}:{request.client.port}" if request.client else "",
        )
        with self._lock:
            self.calls.append(record)
        return record

    async def _hang(self, request: Request) -> None:
        """Give no answer until the client hangs up (or ``hang_seconds``, or shutdown)."""
        deadline = time.monotonic() + self.hang_seconds
        while time.monotonic() < deadline and not self._closing.is_set():
            if await request.is_disconnected():
                return
            await asyncio.sleep(0.02)

    def _transport_fault(self, request: Request, record: CallRecord, fault: str) -> Response | None:
        """Answers that are not the provider's at all (the same for every provider)."""
        if fault == "proxy_page":
            record.outcome, record.status = "ProxyPage", 200
            return HTMLResponse("<html><body>Gateway maintenance, try again</body></html>")
        if fault == "trickle":
            record.outcome, record.status = "trickle", 200
            return StreamingResponse(self._trickle(record), media_type="application/json")
        return None

    async def _trickle(self, record: CallRecord) -> AsyncIterator[bytes]:
        deadline = time.monotonic() + self.hang_seconds
        try:
            yield b"{"
            # A client that hangs up cancels this generator (starlette watches for it).
            while time.monotonic() < deadline and not self._closing.is_set():
                await asyncio.sleep(self.trickle_seconds)
                yield b" "
        finally:
            record.ended = time.monotonic()
