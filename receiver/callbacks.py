"""Callback routes: authenticate, decode, commit, answer.

Each callback produces exactly one log line (source, task id, outcome, duration) and one
``relaywarden_callbacks_total`` increment; nothing is acknowledged before the commit.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import metrics
from receiver.decoders.base import Malformed, Unrecognized
from receiver.events import Event, Source
from receiver.http import (
    BodyTooLarge,
    ClientDisconnect,
    error_response,
    read_body_limited,
)
from receiver.runtime import Runtime, runtime_of
from receiver.sources import CALLBACK_SOURCES, CallbackSource, Decoder
from receiver.store.base import IngestResult, StoreUnavailable

__all__ = ["callback_routes", "decode_for_source"]

log = structlog.get_logger("relaywarden.callbacks")

_ACCEPTED = b'{"status":"accepted"}'
_DUPLICATE = b'{"status":"duplicate"}'
_UNRECOGNIZED = b'{"status":"unrecognized"}'

_DECODERS: dict[str, Decoder] = {row.source.value: row.decoder for row in CALLBACK_SOURCES}


def decode_for_source(source: str, body: bytes, context: dict[str, str]) -> Event:
    """Decode ``body`` with the decoder of ``source`` (used by replay too)."""
    decoder = _DECODERS.get(source)
    if decoder is None:
        raise Unrecognized(f"no decoder for source {source!r}")
    return decoder(body, context)


def _json(body: bytes, status: int) -> Response:
    return Response(body, status, media_type="application/json")


class _Outcome:
    """Collects what one callback did, for its metric and its log line."""

    __slots__ = ("fields", "source", "started")

    def __init__(self, source: Source) -> None:
        self.source = source
        self.started = time.perf_counter()
        # Every callback line carries task_id: null until a body is decoded to an event.
        self.fields: dict[str, object] = {"task_id": None}

    def finish(self, outcome: str, response: Response, **fields: object) -> Response:
        duration = time.perf_counter() - self.started
        metrics.callbacks_total.labels(self.source.value, outcome).inc()
        metrics.callback_duration_seconds.labels(self.source.value).observe(duration)
        method = "info" if response.status_code < 400 else "warning"
        getattr(log, method)(
            "callback",
            source=self.source.value,
            outcome=outcome,
            status=response.status_code,
            duration_ms=round(duration * 1000, 3),
            **self.fields,
            **fields,
        )
        return response


async def _process(
    runtime: Runtime, source: Source, body: bytes, context: dict[str, str], out: _Outcome
) -> Response:
    """Decode and commit an authenticated body; shared by every callback route."""
    store = runtime.store
    try:
        event = decode_for_source(source.value, body, context)
    except (Malformed, Unrecognized) as exc:
        malformed = isinstance(exc, Malformed)
        try:
            item = await store.quarantine(source.value, exc.reason, body, context)
        except StoreUnavailable as unavailable:
            return out.finish(
                "unavailable",
                error_response(503, "store_unavailable", f"{unavailable}; retry later"),
            )
        if malformed:
            return out.finish(
                "malformed",
                error_response(400, "malformed", f"{exc.reason} (kept as unrecognized #{item})"),
                quarantine_id=item,
                reason=exc.reason,
            )
        return out.finish(
            "unrecognized",
            _json(_UNRECOGNIZED, 202),
            quarantine_id=item,
            reason=exc.reason,
        )
    out.fields["task_id"] = event.task_id
    out.fields["status_to"] = event.status.value
    try:
        result: IngestResult = await store.ingest(event)
    except StoreUnavailable as exc:
        return out.finish(
            "unavailable", error_response(503, "store_unavailable", f"{exc}; retry later")
        )
    if result.duplicate:
        return out.finish("duplicate", _json(_DUPLICATE, 200))
    change = result.change
    if change is not None and change.changed:
        metrics.task_transitions_total.labels(
            event.provider.value, event.status.value, metrics.reason_label(event.reason)
        ).inc()
    return out.finish(
        "accepted",
        _json(_ACCEPTED, 200),
        event_id=result.event_id,
        applied=change.applied if change else False,
        jobs=len(result.job_ids),
    )


async def _read(request: Request, runtime: Runtime, out: _Outcome) -> bytes | Response:
    try:
        return await read_body_limited(request, runtime.settings.max_body_bytes)
    except BodyTooLarge:
        limit = runtime.settings.max_body_bytes
        return out.finish(
            "too_large",
            error_response(413, "too_large", f"callback bodies are limited to {limit} bytes"),
        )
    except ClientDisconnect:
        return out.finish(
            "malformed", error_response(400, "disconnected", "the client disconnected mid-body")
        )


def _route(row: CallbackSource) -> Callable[[Request], Awaitable[Response]]:
    """The handler of one callback source: authenticate, read, decode, commit, answer."""

    async def handle(request: Request) -> Response:
        runtime = runtime_of(request)
        out = _Outcome(row.source)
        refused = row.auth.refuse_request(request, runtime)
        if refused is not None:
            return out.finish("unauthorized", error_response(401, "unauthorized", refused))
        body = await _read(request, runtime, out)
        if isinstance(body, Response):
            return body
        refused = row.auth.refuse_body(request, runtime, body)
        if refused is not None:
            return out.finish("unauthorized", error_response(401, "unauthorized", refused))
        return await _process(runtime, row.source, body, row.auth.context(request), out)

    handle.__name__ = row.source.value
    return handle


def callback_routes() -> list[Route]:
    """The provider-facing routes, one per row of ``CALLBACK_SOURCES``."""
    return [Route(row.path, _route(row), methods=["POST"]) for row in CALLBACK_SOURCES]
