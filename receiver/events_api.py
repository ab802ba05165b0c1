"""``/api/events``: search the stored events of every task, and replay one.

A replay decodes the stored body again with its source's decoder (so a decoder fixed by an
upgrade reads it anew) and ingests it as a new event received now: its provider time is
the replay's time and its ``provider_status`` notes which event it replays. It then goes
through the same path as a callback: the ordering rule, the planner, the relay lifecycle.
A task that has already exited does not move again (the ordering rule), so replaying does
not revive an ended relay; retrying the dead job that should have healed it does.
"""

from __future__ import annotations

import time
from datetime import datetime

import msgspec
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import ingest_counted, parse_id, parse_limit_cursor
from receiver.callbacks import decode_for_source
from receiver.decoders.base import Malformed, Unrecognized
from receiver.domain.numbers import MAX_ROW_INT, row_int
from receiver.domain.states import EventKind, Provider
from receiver.http import BadQuery, enum_param, error_response, json_response
from receiver.operator_views import EventReplayView, FoundEventView
from receiver.runtime import runtime_of
from receiver.store.base import EventQuery
from receiver.views import Page

__all__ = ["event_routes", "parse_time"]


def parse_time(request: Request, name: str) -> int | None:
    """A time query parameter as ms: ISO 8601 (``2026-11-22T10:00:00Z``) or epoch ms."""
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    if raw.isascii() and raw.isdigit():
        millis = row_int(raw)
        if millis is None:
            raise BadQuery(f"{name} in milliseconds must be at most {MAX_ROW_INT}")
        return millis
    try:
        parsed = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise BadQuery(f"{name} must be like 2026-11-22T10:00:00Z or milliseconds") from None
    if parsed.tzinfo is None:
        raise BadQuery(f"{name} needs a time zone (end it with Z for UTC)")
    return int(parsed.timestamp() * 1000)


async def search(request: Request) -> Response:
    """``GET /api/events?provider=&task=&relay=&kind=&since=&until=&limit=&cursor=``."""
    kind = enum_param(request, "kind", EventKind)
    query = EventQuery(
        provider=enum_param(request, "provider", Provider),
        task_id=request.query_params.get("task") or None,
        relay_id=request.query_params.get("relay") or None,
        kind=kind.value if kind else None,
        since_ms=parse_time(request, "since"),
        until_ms=parse_time(request, "until"),
    )
    limit, cursor = parse_limit_cursor(request)
    found = await runtime_of(request).store.search_events(query, limit=limit, cursor=cursor)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return json_response(Page([FoundEventView.of_found(e) for e in found], next_cursor))


async def replay(request: Request) -> Response:
    """``POST /api/events/{id}/replay``: ingest a stored event again as a new event."""
    store = runtime_of(request).store
    event_id = parse_id(request, "event_id")
    stored = None if event_id is None else await store.get_event(event_id)
    if stored is None or event_id is None:
        return error_response(404, "not_found", "no such event")
    try:
        decoded = decode_for_source(stored.source, stored.raw, {})
    except (Malformed, Unrecognized) as exc:
        return error_response(422, "not_replayable", f"event #{event_id}: {exc.reason}")
    event = msgspec.structs.replace(
        decoded,
        event_time_ms=int(time.time() * 1000),
        provider_status=f"{decoded.provider_status} (replay of event #{event_id})",
    )
    result = await ingest_counted(store, event)
    change = result.change
    return json_response(
        EventReplayView(
            "duplicate" if result.duplicate else "accepted",
            event_id,
            result.event_id,
            event.provider,
            event.task_id,
            change is not None and change.applied,
            list(result.job_ids),
        )
    )


def event_routes() -> list[Route]:
    """The event routes, relative to the ``/api`` mount."""
    return [
        Route("/events", search, methods=["GET"]),
        Route("/events/{event_id}/replay", replay, methods=["POST"]),
    ]
