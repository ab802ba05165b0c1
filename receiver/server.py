"""The HTTP server of ``relaywarden serve``: uvicorn behind a guard on every connection.

uvicorn bounds neither the time a client may take to send its request headers nor (with
httptools) their size, and its ``limit_concurrency`` counts half-open connections too, so a
flood of them turns every valid callback into a 503. The guard is a subclass of uvicorn's
httptools protocol that adds, per connection:

- a read deadline: a connection must send a complete request head within
  ``header_timeout`` seconds of connecting or of its previous answer, and then the body
  within as long again (408, then closed): a request that never finishes would otherwise
  hold its connection busy, where eviction cannot reach it;
- a header size bound: more than ``max_header_bytes`` of request line and headers is
  answered 431 and the connection closed; at most one socket read (256 KiB) more is
  held;
- a connection bound: beyond ``max_connections`` a new connection first evicts the oldest
  connection that has no request in progress (idle keep-alive or still sending headers),
  so a flood of half-open connections cannot crowd out providers that send their request
  at once; only when every connection is busy is the new one answered 503.

WebSockets are off: relaywarden serves none, and uvicorn's WebSocket log lines quote the
request URL with its token.
"""

from __future__ import annotations

import asyncio
import resource
import time
from dataclasses import dataclass
from typing import Any, ClassVar, Literal, TypedDict

import msgspec
import structlog
import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from receiver import metrics
from receiver.config import Settings

__all__ = [
    "ConnectionLimits",
    "GuardedHttpProtocol",
    "guarded_protocol",
    "run_server",
    "server_options",
]

log = structlog.get_logger("relaywarden.server")

#: How long a refused connection stays half-closed (answer and FIN sent, nothing more read)
#: before it is reset: closing at once with unread data resets the connection before the
#: client has read the answer that says why.
_LINGER_SECONDS = 1.0
#: At most this many refused connections linger at once; beyond, they are closed at once
#: (the answer may then be lost to a reset) so that a flood cannot hold descriptors.
_MAX_LINGERING = 16
_lingering: set[GuardedHttpProtocol] = set()
#: At most one warning per reason in this many seconds (a flood must not flood the log).
_LOG_EVERY_SECONDS = 10.0
_REASONS = {
    408: "request_timeout",
    431: "headers_too_large",
    503: "busy",
}


@dataclass(frozen=True, slots=True)
class ConnectionLimits:
    """What one server accepts from its clients."""

    max_connections: int = 1000
    header_timeout: float = 10.0
    max_header_bytes: int = 32 * 1024

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectionLimits:
        """The limits configured by ``RELAYWARDEN_MAX_CONNECTIONS`` and friends."""
        return cls(
            max_connections=settings.max_connections,
            header_timeout=settings.header_timeout_seconds,
            max_header_bytes=settings.max_header_bytes,
        )


class _RefusalLog:
    """Counts refusals per reason; logs one line per reason at most every few seconds."""

    def __init__(self) -> None:
        self._pending: dict[str, int] = {}
        self._last: dict[str, float] = {}

    def refused(self, reason: str, limits: ConnectionLimits) -> None:
        metrics.connections_refused_total.labels(reason).inc()
        self._pending[reason] = self._pending.get(reason, 0) + 1
        now = time.monotonic()
        if now - self._last.get(reason, -_LOG_EVERY_SECONDS) >= _LOG_EVERY_SECONDS:
            log.warning(
                "connections_refused",
                reason=reason,
                count=self._pending.pop(reason),
                max_connections=limits.max_connections,
                header_timeout_s=limits.header_timeout,
                max_header_bytes=limits.max_header_bytes,
            )
            self._last[reason] = now


_REFUSALS = _RefusalLog()
_ENCODER = msgspec.json.Encoder()


def _error_response(status: int, message: str) -> bytes:
    body = _ENCODER.encode({"error": {"code": _REASONS[status], "message": message}})
    phrase = {408: "Request Timeout", 431: "Request Header Fields Too Large", 503: "Busy"}
    head = (
        f"HTTP/1.1 {status} {phrase[status]}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n"
    )
    if status == 503:
        head += "retry-after: 1\r\n"
    return head.encode("ascii") + b"\r\n" + body


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a header deadline, a header bound and a
    connection bound (see the module docstring). ``limits`` is set by :func:`guarded_protocol`.
    """

    limits: ClassVar[ConnectionLimits] = ConnectionLimits()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: When the connection started waiting for a request head (None: one is in progress).
        self.waiting_since: float | None = None
        self.refused = False
        self._in_head = False
        self._in_body = False
        self._completed = 0  # requests fully received on this connection
        self._head_bytes = 0
        self._head_timer: asyncio.TimerHandle | None = None

    # --- connection bound ----------------------------------------------------------------

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Accept, after evicting an idle connection if the bound is reached; else 503."""
        live = [c for c in self.connections if _is_live(c)]
        if len(live) >= self.limits.max_connections and not _evict_oldest_waiting(live):
            self.transport = transport
            self._refuse(
                503,
                "limit",
                f"relaywarden is at its limit of {self.limits.max_connections} connections; "
                "retry shortly",
            )
            return
        super().connection_made(transport)
        self._await_request()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the connection and its timer."""
        _lingering.discard(self)
        self._cancel_timer()
        super().connection_lost(exc)

    # --- header deadline and size --------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        """Feed the parser, counting request-head bytes against the bound."""
        if self.refused:
            return  # answered already: anything more is ignored
        completed = self._completed
        super().data_received(data)
        if self.refused or self.transport.is_closing() or not self._in_head:
            return
        # A read in which no request ended is all head (the one in progress). A read in which
        # one ended also holds the end of that request: it is not counted, so the bound may
        # be passed by that one read (asyncio reads 256 KiB at most), never by body bytes.
        if self._completed == completed:
            self._head_bytes += len(data)
            if self._head_bytes > self.limits.max_header_bytes:
                self._refuse(
                    431,
                    "header_too_large",
                    f"request line and headers are limited to {self.limits.max_header_bytes} bytes",
                )

    def on_message_begin(self) -> None:
        """A request head starts."""
        self._in_head = True
        self._head_bytes = 0
        super().on_message_begin()

    def on_headers_complete(self) -> None:
        """The head is complete: its deadline and byte count stop; the body's deadline starts."""
        self._in_head = False
        self._in_body = True
        self.waiting_since = None
        self._head_bytes = 0
        self._cancel_timer()
        super().on_headers_complete()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._body_timeout)

    def on_message_complete(self) -> None:
        """The whole request is in: no deadline until the answer is sent."""
        self._completed += 1
        self._in_body = False
        self._cancel_timer()
        super().on_message_complete()
        cycle = self.cycle
        if cycle is not None and cycle.response_complete and not self.transport.is_closing():
            self._await_request()  # answered before its body was in: now idle

    def _body_timeout(self) -> None:
        self._head_timer = None
        cycle = self.cycle
        if self.transport.is_closing() or self.refused:
            return
        if cycle is not None and cycle.response_complete:
            self.transport.close()  # answered already: a late 408 would answer the next request
        elif cycle is None or not cycle.response_started:
            self._refuse(
                408,
                "body_timeout",
                f"the request body did not arrive within {self.limits.header_timeout:g}s",
            )

    def on_response_complete(self) -> None:
        """After an answer the connection waits for the next request head, under the deadline."""
        super().on_response_complete()
        if self.timeout_keep_alive_task is None or self.transport.is_closing():
            return
        if self._in_body:
            # Answered before the body was read: evictable now; the body deadline still runs.
            self.waiting_since = time.monotonic()
        else:
            self._await_request()

    def _unsupported_upgrade_warning(self) -> None:
        """WebSockets are off on purpose: say so once per request, without the URL."""
        log.info("websocket_refused", hint="relaywarden serves no WebSocket routes")

    def _await_request(self) -> None:
        self.waiting_since = time.monotonic()
        self._head_bytes = 0
        self._cancel_timer()
        self._head_timer = self.loop.call_later(self.limits.header_timeout, self._head_timeout)

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.waiting_since is None or self.transport.is_closing():
            return
        if self._in_head:
            self._refuse(
                408,
                "header_timeout",
                f"the request head did not arrive within {self.limits.header_timeout:g}s",
            )
        else:  # an idle connection: nothing to answer
            self.transport.close()

    def evict(self) -> None:
        """Make room for a new connection: close this one (it has no request in progress)."""
        if self._in_head:
            self._refuse(503, "evicted", "relaywarden is at its connection limit; retry")
        else:
            self.refused = True
            _REFUSALS.refused("evicted", self.limits)
            self.transport.close()

    # --- helpers -------------------------------------------------------------------------

    def _refuse(self, status: int, reason: str, message: str) -> None:
        """Answer ``status`` with a JSON error, stop reading requests, close soon after."""
        self.refused = True
        self._cancel_timer()
        _REFUSALS.refused(reason, self.limits)
        cycle = self.cycle
        if cycle is not None and not cycle.response_complete:
            # The app may be waiting for the body: it sees a disconnect and answers nothing.
            cycle.disconnected = True
            cycle.message_event.set()
        transport = self.transport
        transport.write(_error_response(status, message))
        if len(_lingering) >= _MAX_LINGERING or not transport.can_write_eof():
            transport.close()
            return
        _lingering.add(self)
        # No more reading: a client still sending fills its buffers and stalls, and the
        # answer with its FIN gets through before the connection is reset.
        transport.pause_reading()
        transport.write_eof()
        self.loop.call_later(_LINGER_SECONDS, transport.abort)

    def _cancel_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None


def _is_live(connection: Any) -> bool:
    return not getattr(connection, "refused", False) and not connection.transport.is_closing()


def _evict_oldest_waiting(live: list[Any]) -> bool:
    """Close the connection that has waited longest without a request; False if none."""
    waiting = [c for c in live if getattr(c, "waiting_since", None) is not None]
    if not waiting:
        return False
    oldest: GuardedHttpProtocol = min(waiting, key=lambda c: c.waiting_since)
    oldest.evict()
    return True


def guarded_protocol(limits: ConnectionLimits) -> type[GuardedHttpProtocol]:
    """A :class:`GuardedHttpProtocol` class bound to ``limits`` (uvicorn's ``http=``)."""
    return type("GuardedHttpProtocol", (GuardedHttpProtocol,), {"limits": limits})


def _raise_file_limit(limits: ConnectionLimits) -> None:
    """Make sure the process may open every allowed connection plus its own files."""
    needed = limits.max_connections + 256
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < needed:
        target = needed if hard == resource.RLIM_INFINITY else min(needed, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        except (ValueError, OSError):
            target = soft
        if target < needed:
            log.warning(
                "file_limit_low",
                open_files=target,
                max_connections=limits.max_connections,
                hint="lower RELAYWARDEN_MAX_CONNECTIONS or raise the hard limit (ulimit -Hn)",
            )


class ServerOptions(TypedDict):
    """The keyword arguments ``serve`` gives ``uvicorn.run``."""

    host: str
    port: int
    http: type[asyncio.Protocol]
    ws: Literal["none"]
    access_log: bool
    log_config: None
    server_header: bool
    timeout_keep_alive: int
    timeout_graceful_shutdown: int


def server_options(settings: Settings) -> ServerOptions:
    """uvicorn's options for ``serve``: guarded protocol, no WebSockets, no access log."""
    return {
        "host": settings.host,
        "port": settings.port,
        "http": guarded_protocol(ConnectionLimits.from_settings(settings)),
        "ws": "none",
        "access_log": False,
        "log_config": None,
        "server_header": False,
        "timeout_keep_alive": 5,
        "timeout_graceful_shutdown": 10,
    }


def run_server(app: Any, settings: Settings) -> None:
    """Serve ``app`` until interrupted, with the connection limits of ``settings``."""
    _raise_file_limit(ConnectionLimits.from_settings(settings))
    uvicorn.run(app, **server_options(settings))
