"""The operator's JSON API under ``/api`` (tasks and quarantined callbacks)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver import metrics
from receiver.callbacks import decode_for_source
from receiver.decoders.base import Malformed, Unrecognized
from receiver.events import Provider, Status
from receiver.http import error_response, json_response
from receiver.runtime import runtime_of
from receiver.store.base import StoreUnavailable

__all__ = ["BadQuery", "api_routes", "iso_time", "parse_limit", "parse_limit_cursor"]

MAX_LIMIT = 500
#: Ids and cursors are SQLite integers; anything beyond them cannot name a row.
_MAX_ID = 2**63 - 1


def iso_time(ms: int | None) -> str | None:
    """Milliseconds since the epoch as an ISO 8601 UTC string (None stays None)."""
    if ms is None:
        return None
    try:
        moment = datetime.fromtimestamp(ms / 1000, tz=UTC)
    except (ValueError, OverflowError, OSError):  # beyond year 9999: not a real time
        return None
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class BadQuery(ValueError):
    """A query parameter has a value we cannot use."""


def parse_limit(request: Request, default: int = 100) -> int:
    """``limit`` (1..500) from the query string."""
    raw_limit = request.query_params.get("limit")
    try:
        limit = default if raw_limit in (None, "") else int(raw_limit)
    except ValueError:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}") from None
    if not 1 <= limit <= MAX_LIMIT:
        raise BadQuery(f"limit must be an integer from 1 to {MAX_LIMIT}")
    return limit


def parse_limit_cursor(request: Request, default: int = 100) -> tuple[int, int | None]:
    """``limit`` (1..500) and an opaque integer ``cursor`` from the query string."""
    limit = parse_limit(request, default)
    raw_cursor = request.query_params.get("cursor")
    try:
        cursor = None if raw_cursor in (None, "") else int(raw_cursor)
    except ValueError:
        raise BadQuery("cursor must be a value returned as next_cursor") from None
    if cursor is not None and not 0 <= cursor <= _MAX_ID:
        raise BadQuery("cursor must be a value returned as next_cursor")
    return limit, cursor


def _task_summary(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "provider": row["provider"],
        "task_id": row["task_id"],
        "status": row["status"],
        "reason": row["reason"] or None,
        "first_seen": iso_time(row["first_seen_ms"]),
        "updated_at": iso_time(row["updated_at_ms"]),
    }


def _event(row: dict[str, Any]) -> dict[str, Any]:
    raw: bytes = row["raw"]
    return {
        "id": row["id"],
        "source": row["source"],
        "kind": row["kind"],
        "status": row["status"],
        "reason": row["reason"] or None,
        "provider_status": row["provider_status"],
        "event_time": iso_time(row["event_time_ms"]),
        "received_at": iso_time(row["received_at_ms"]),
        "applied": bool(row["applied"]),
        "raw": raw.decode("utf-8", errors="replace"),
    }


def _job(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": row["id"],
        "action": row["action"],
        "relay_id": row["relay_id"],
        "state": row["state"],
        "attempts": row["attempts"],
        "due_at": iso_time(row["due_at_ms"]),
        "last_error": row["last_error"],
        "created_at": iso_time(row["created_at_ms"]),
        "updated_at": iso_time(row["updated_at_ms"]),
    }


async def list_tasks(request: Request) -> Response:
    """``GET /api/tasks?provider=&status=&limit=&cursor=``: tasks, newest first."""
    provider = request.query_params.get("provider") or None
    status = request.query_params.get("status") or None
    if provider is not None and provider not in Provider.__members__.values():
        return error_response(
            400, "bad_query", f"provider must be one of {', '.join(p.value for p in Provider)}"
        )
    if status is not None and status not in Status.__members__.values():
        return error_response(
            400, "bad_query", f"status must be one of {', '.join(s.value for s in Status)}"
        )
    try:
        limit, cursor = parse_limit_cursor(request)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    rows = await runtime_of(request).store.list_tasks(
        provider=provider, status=status, limit=limit, cursor=cursor
    )
    next_cursor = str(rows[-1]["seq"]) if len(rows) == limit else None
    return json_response({"items": [_task_summary(r) for r in rows], "next_cursor": next_cursor})


async def get_task(request: Request) -> Response:
    """``GET /api/tasks/{provider}/{task_id:path}``: state, reason, relay, history, jobs."""
    provider = request.path_params["provider"]
    task_id = request.path_params["task_id"]
    store = runtime_of(request).store
    task = await store.get_task(provider, task_id)
    if task is None:
        return error_response(404, "not_found", f"no {provider} task {task_id!r} has been seen")
    events = [_event(e) for e in task["events"]]
    body = _task_summary(task)
    body["relay_id"] = task.get("relay_id")
    body["state_event_id"] = task["state_event_id"]
    body["events"] = events
    body["arrival_order"] = sorted(e["id"] for e in events)
    body["jobs"] = [_job(j) for j in task["jobs"]]
    return json_response(body)


def _quarantined(row: dict[str, Any]) -> dict[str, Any]:
    body: bytes = row["body"]
    return {
        "id": row["id"],
        "source": row["source"],
        "reason": row["reason"],
        "received_at": iso_time(row["received_at_ms"]),
        "context": json.loads(row["context"]),
        "body": body.decode("utf-8", errors="replace"),
        "replayed_at": iso_time(row["replayed_at_ms"]),
        "replay_result": row["replay_result"],
    }


async def list_unrecognized(request: Request) -> Response:
    """``GET /api/unrecognized``: quarantined callbacks, newest first."""
    try:
        limit, cursor = parse_limit_cursor(request)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    rows = await runtime_of(request).store.list_unrecognized(limit=limit, cursor=cursor)
    next_cursor = str(rows[-1]["id"]) if len(rows) == limit else None
    return json_response({"items": [_quarantined(r) for r in rows], "next_cursor": next_cursor})


async def replay_unrecognized(request: Request) -> Response:
    """``POST /api/unrecognized/{id}/replay``: decode a kept body again (after an upgrade)."""
    store = runtime_of(request).store
    try:
        item_id = int(request.path_params["item_id"])
    except ValueError:
        return error_response(404, "not_found", "no such quarantined callback")
    if not 0 < item_id <= _MAX_ID:
        return error_response(404, "not_found", "no such quarantined callback")
    item = await store.get_unrecognized(item_id)
    if item is None:
        return error_response(404, "not_found", f"no quarantined callback #{item_id}")
    try:
        event = decode_for_source(item["source"], item["body"], json.loads(item["context"]))
    except (Malformed, Unrecognized) as exc:
        return error_response(422, "still_unrecognized", exc.reason)
    try:
        result = await store.ingest(event)
        outcome = "duplicate" if result.duplicate else "accepted"
        await store.mark_replayed(item_id, outcome)
    except StoreUnavailable as exc:
        return error_response(503, "store_unavailable", f"{exc}; retry later")
    if result.change is not None and result.change.changed:
        metrics.task_transitions_total.labels(
            event.provider.value, event.status.value, metrics.reason_label(event.reason)
        ).inc()
    return json_response(
        {"status": outcome, "provider": event.provider.value, "task_id": event.task_id}
    )


def api_routes() -> list[Route]:
    """Routes of the operator API (authentication is applied by the app)."""
    return [
        Route("/api/tasks", list_tasks, methods=["GET"]),
        Route("/api/tasks/{provider}/{task_id:path}", get_task, methods=["GET"]),
        Route("/api/unrecognized", list_unrecognized, methods=["GET"]),
        Route("/api/unrecognized/{item_id}/replay", replay_unrecognized, methods=["POST"]),
    ]
