"""The operator's JSON API under ``/api`` (tasks and quarantined callbacks).

Routes raise ``BadQuery`` for a query they cannot use and let ``StoreUnavailable`` pass:
the app's exception handlers answer 400 and 503 for every route the same way.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import metrics
from receiver.callbacks import decode_for_source
from receiver.decoders.base import Malformed, Unrecognized
from receiver.domain.numbers import row_int
from receiver.domain.states import Provider, Status
from receiver.events import Event
from receiver.http import BadQuery, enum_param, error_response, json_response
from receiver.runtime import runtime_of
from receiver.store.base import IngestResult, Store
from receiver.store.hardening_interface import TaskPages
from receiver.views import Page, QuarantinedView, ReplayView, TaskDetailView, TaskView, iso_time

__all__ = [
    "BadQuery",
    "api_routes",
    "ingest_counted",
    "iso_time",
    "parse_id",
    "parse_limit",
    "parse_limit_cursor",
]

MAX_LIMIT = 500


def parse_limit(request: Request, default: int = 100) -> int:
    """``limit`` (1..500) from the query string."""
    raw_limit = request.query_params.get("limit")
    limit = default if raw_limit in (None, "") else row_int(raw_limit, minimum=1)
    if limit is None or limit > MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def parse_limit_cursor(request: Request, default: int = 100) -> tuple[int, int | None]:
    """``limit`` (1..500) and an opaque integer ``cursor`` from the query string."""
    limit = parse_limit(request, default)
    raw_cursor = request.query_params.get("cursor")
    if raw_cursor in (None, ""):
        return limit, None
    cursor = row_int(raw_cursor)
    if cursor is None:
        raise BadQuery("cursor must be a value returned as next_cursor")
    return limit, cursor


def parse_id(request: Request, name: str) -> int | None:
    """A positive integer path parameter, or None when it cannot name a row."""
    return row_int(request.path_params[name], minimum=1)


async def ingest_counted(store: Store, event: Event) -> IngestResult:
    """Ingest an event the API replays, counting a state change like a callback's."""
    result = await store.ingest(event)
    if result.change is not None and result.change.changed:
        metrics.task_transitions_total.labels(
            event.provider, event.status, metrics.reason_label(event.reason)
        ).inc()
    return result


async def list_tasks(request: Request) -> Response:
    """``GET /api/tasks?provider=&status=&limit=&cursor=``: tasks, newest first."""
    provider = enum_param(request, "provider", Provider)
    status = enum_param(request, "status", Status)
    limit, cursor = parse_limit_cursor(request)
    rows = await runtime_of(request).store.list_tasks(
        provider=provider, status=status, limit=limit, cursor=cursor
    )
    next_cursor = str(rows[-1].seq) if len(rows) == limit else None
    return json_response(Page([TaskView.of(r) for r in rows], next_cursor))


async def get_task(request: Request) -> Response:
    """``GET /api/tasks/{provider}/{task_id:path}?limit=&cursor=``: state, reason, relay,
    jobs and one page of the history (``limit`` events, default 100; ``next_cursor``)."""
    provider = request.path_params["provider"]
    task_id = request.path_params["task_id"]
    limit = parse_limit(request)
    after = _event_cursor(request.query_params.get("cursor"))
    store = runtime_of(request).store
    assert isinstance(store, TaskPages)  # both SQL stores page a task's history
    detail = await store.get_task_page(provider, task_id, limit=limit, after=after)
    if detail is None:
        return error_response(404, "not_found", f"no {provider} task {task_id!r} has been seen")
    last = detail.events[-1] if len(detail.events) == limit else None
    next_cursor = None if last is None else f"{last.order_time_ms}:{last.id}"
    return json_response(TaskDetailView.of_detail(detail, next_cursor))


def _event_cursor(raw: str | None) -> tuple[int, int] | None:
    """A task history cursor (``order_time_ms:id`` of the page's last event), or None."""
    if not raw:
        return None
    order_text, _, id_text = raw.partition(":")
    order_time, event_id = row_int(order_text), row_int(id_text)
    if order_time is None or event_id is None:
        raise BadQuery("cursor must be a value returned as next_cursor")
    return order_time, event_id


async def list_unrecognized(request: Request) -> Response:
    """``GET /api/unrecognized``: quarantined callbacks, newest first."""
    limit, cursor = parse_limit_cursor(request)
    rows = await runtime_of(request).store.list_unrecognized(limit=limit, cursor=cursor)
    next_cursor = str(rows[-1].id) if len(rows) == limit else None
    return json_response(Page([QuarantinedView.of(r) for r in rows], next_cursor))


async def replay_unrecognized(request: Request) -> Response:
    """``POST /api/unrecognized/{id}/replay``: decode a kept body again (after an upgrade)."""
    store = runtime_of(request).store
    item_id = parse_id(request, "item_id")
    if item_id is None:
        return error_response(404, "not_found", "no such quarantined callback")
    item = await store.get_unrecognized(item_id)
    if item is None:
        return error_response(404, "not_found", f"no quarantined callback #{item_id}")
    try:
        event = decode_for_source(item.source, item.body, item.context)
    except (Malformed, Unrecognized) as exc:
        return error_response(422, "still_unrecognized", exc.reason)
    result = await ingest_counted(store, event)
    outcome = "duplicate" if result.duplicate else "accepted"
    await store.mark_replayed(item_id, outcome)
    return json_response(ReplayView(outcome, event.provider, event.task_id))


def api_routes() -> list[Route]:
    """Routes of the operator API, relative to its ``/api`` mount."""
    return [
        Route("/tasks", list_tasks, methods=["GET"]),
        Route("/tasks/{provider}/{task_id:path}", get_task, methods=["GET"]),
        Route("/unrecognized", list_unrecognized, methods=["GET"]),
        Route("/unrecognized/{item_id}/replay", replay_unrecognized, methods=["POST"]),
    ]
