"""Callback routes: authenticate, decode, commit, answer.

Each callback produces exactly one log line (source, task id, outcome, duration) and one
``relaywarden_callbacks_total`` increment; nothing is acknowledged before the commit.

The callback paths are the hot path, so they are served by plain ASGI endpoints that
``CallbackRoutes`` (the app's outermost middleware) calls directly: no framework request,
routing or middleware chain per callback, and answers whose headers are built once.
Every other path and method goes on to the rest of the app unchanged.
"""

from __future__ import annotations

import time

import msgspec
import structlog
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver import metrics
from receiver.decoders.base import Malformed, Unrecognized
from receiver.domain.forwards import FORWARDED_HEADERS
from receiver.domain.scope import OutOfScope
from receiver.events import Event
from receiver.http import (
    BodyTooLarge,
    CallbackRequest,
    ClientDisconnect,
    error_body,
    receive_body_limited,
)
from receiver.runtime import Runtime
from receiver.sources import CALLBACK_SOURCES, CallbackSource, Decoder
from receiver.store.base import IngestResult, StoreUnavailable

__all__ = [
    "CallbackEndpoint",
    "CallbackRoutes",
    "callback_endpoints",
    "callback_routes",
    "decode_for_source",
]

log = structlog.get_logger("relaywarden.callbacks")

_DECODERS: dict[str, Decoder] = {row.source.value: row.decoder for row in CALLBACK_SOURCES}


def decode_for_source(source: str, body: bytes, context: dict[str, str]) -> Event:
    """Decode ``body`` with the decoder of ``source`` (used by replay too)."""
    decoder = _DECODERS.get(source)
    if decoder is None:
        raise Unrecognized(f"no decoder for source {source!r}")
    return decoder(body, context)


class _Answer:
    """A complete response: status, headers and body, built once when constant."""

    __slots__ = ("body", "start", "status")

    def __init__(self, status: int, body: bytes) -> None:
        self.status = status
        self.body = {"type": "http.response.body", "body": body}
        self.start = {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }

    async def send(self, send: Send) -> None:
        # Fresh message dicts: the server may keep or change what it is given.
        await send(dict(self.start))
        await send(dict(self.body))


def _error(status: int, code: str, message: str) -> _Answer:
    return _Answer(status, error_body(code, message))


_ACCEPTED = _Answer(200, b'{"status":"accepted"}')
_DUPLICATE = _Answer(200, b'{"status":"duplicate"}')
_UNRECOGNIZED = _Answer(202, b'{"status":"unrecognized"}')
_DISCONNECTED = _error(400, "disconnected", "the client disconnected mid-body")
_INTERNAL = _error(500, "internal_error", "relaywarden failed to handle this request; see its log")


class _Outcome:
    """Collects what one callback did, for its metric and its log line."""

    __slots__ = ("fields", "series", "source", "started")

    def __init__(self, source: str, series: metrics.CallbackSeries) -> None:
        self.source = source
        self.series = series
        self.started = time.perf_counter()
        # Every callback line carries task_id: null until a body is decoded to an event.
        self.fields: dict[str, object] = {"task_id": None}

    def finish(self, outcome: str, answer: _Answer, **fields: object) -> _Answer:
        duration = time.perf_counter() - self.started
        self.series.done(outcome, duration)
        line = self.fields
        line.update(fields)
        emit = log.info if answer.status < 400 else log.warning
        emit(
            "callback",
            source=self.source,
            outcome=outcome,
            status=answer.status,
            duration_ms=round(duration * 1000, 3),
            **line,
        )
        return answer


class CallbackEndpoint:
    """The ASGI endpoint of one callback source: authenticate, read, decode, commit, answer."""

    def __init__(self, row: CallbackSource, runtime: Runtime) -> None:
        self.row = row
        self.runtime = runtime
        self.source = row.source.value
        self.series = metrics.CallbackSeries(self.source)
        limit = runtime.settings.max_body_bytes
        #: With RELAYWARDEN_FORWARD_URL unset the callback path copies nothing.
        self.forwarding = runtime.settings.forward_url is not None
        self._too_large = _error(413, "too_large", f"callback bodies are limited to {limit} bytes")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            answer = await self._handle(scope, receive)
        except Exception:
            # The net under the route (it is written not to raise): a JSON 500 and a log line.
            log.exception("unhandled_error", method=scope["method"], path=scope["path"])
            answer = _INTERNAL
        await answer.send(send)

    async def _handle(self, scope: Scope, receive: Receive) -> _Answer:
        runtime, auth = self.runtime, self.row.auth
        out = _Outcome(self.source, self.series)
        request = CallbackRequest(scope)
        refused = auth.refuse_request(request, runtime)
        if refused is not None:
            return out.finish("unauthorized", _error(401, "unauthorized", refused))
        try:
            body = await receive_body_limited(
                receive, request.header(b"content-length"), runtime.settings.max_body_bytes
            )
        except BodyTooLarge:
            return out.finish("too_large", self._too_large)
        except ClientDisconnect:
            return out.finish("malformed", _DISCONNECTED)
        refused = auth.refuse_body(request, runtime, body)
        if refused is not None:
            return out.finish("unauthorized", _error(401, "unauthorized", refused))
        only = auth.scope(request, runtime)
        forward = _forward_headers(request) if self.forwarding else None
        return await self._process(body, auth.context(request), only, out, forward)

    async def _process(
        self,
        body: bytes,
        context: dict[str, str],
        scope: str | None,
        out: _Outcome,
        forward: dict[str, str] | None,
    ) -> _Answer:
        """Decode and commit an authenticated body (``scope``: its token's only relay; with
        its forward when ``forward``)."""
        store = self.runtime.store
        try:
            event = self.row.decoder(body, context)
        except (Malformed, Unrecognized) as exc:
            return await self._quarantine(exc, body, context, out)
        if scope is not None or forward is not None:
            event = msgspec.structs.replace(event, scope_relay=scope, forward_headers=forward)
        out.fields["task_id"] = event.task_id
        out.fields["status_to"] = event.status.value
        try:
            result: IngestResult = await store.ingest(event)
        except StoreUnavailable as exc:
            return out.finish(
                "unavailable", _error(503, "store_unavailable", f"{exc}; retry later")
            )
        except OutOfScope as exc:
            return out.finish("unauthorized", _error(401, "unauthorized", str(exc)))
        if result.duplicate:
            return out.finish("duplicate", _DUPLICATE)
        if forward is not None:
            self.runtime.forwards_queued.set()
        change = result.change
        if change is not None and change.changed:
            metrics.count_transition(event.provider.value, event.status.value, event.reason)
        return out.finish(
            "accepted",
            _ACCEPTED,
            event_id=result.event_id,
            applied=change.applied if change else False,
            jobs=len(result.job_ids),
        )

    async def _quarantine(
        self,
        exc: Malformed | Unrecognized,
        body: bytes,
        context: dict[str, str],
        out: _Outcome,
    ) -> _Answer:
        try:
            item = await self.runtime.store.quarantine(self.source, exc.reason, body, context)
        except StoreUnavailable as unavailable:
            return out.finish(
                "unavailable", _error(503, "store_unavailable", f"{unavailable}; retry later")
            )
        if isinstance(exc, Malformed):
            return out.finish(
                "malformed",
                _error(400, "malformed", f"{exc.reason} (kept as unrecognized #{item})"),
                quarantine_id=item,
                reason=exc.reason,
            )
        return out.finish("unrecognized", _UNRECOGNIZED, quarantine_id=item, reason=exc.reason)


def _forward_headers(request: CallbackRequest) -> dict[str, str]:
    """The headers of a callback that travel with its forward (never the query: its token)."""
    found: dict[str, str] = {}
    for name in FORWARDED_HEADERS:
        value = request.header(name.encode())
        if value is not None:
            found[name] = value
    return found


def callback_endpoints(runtime: Runtime) -> dict[str, CallbackEndpoint]:
    """The endpoint of each row of ``CALLBACK_SOURCES``, by path."""
    return {row.path: CallbackEndpoint(row, runtime) for row in CALLBACK_SOURCES}


def callback_routes(endpoints: dict[str, CallbackEndpoint]) -> list[Route]:
    """The endpoints as routes too, so other methods get the router's 405 like any route."""
    return [Route(path, endpoint, methods=["POST"]) for path, endpoint in endpoints.items()]


class CallbackRoutes:
    """ASGI middleware answering ``POST`` to the callback paths itself (see the module)."""

    def __init__(self, app: ASGIApp, endpoints: dict[str, CallbackEndpoint]) -> None:
        self.app = app
        self.endpoints = endpoints

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            endpoint = self.endpoints.get(scope["path"])
            if endpoint is not None:
                await endpoint(scope, receive, send)
                return
        await self.app(scope, receive, send)
