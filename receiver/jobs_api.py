"""``/api/jobs``: follow-up jobs, and retrying a dead one."""

from __future__ import annotations

import json
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import BadQuery, iso_time, parse_limit_cursor
from receiver.http import error_response, json_response
from receiver.runtime import runtime_of
from receiver.store.base import StoreUnavailable
from receiver.store.jobs import JOB_STATES, get_job, list_jobs, retry_dead_job

__all__ = ["job_routes", "job_view"]


def job_view(row: dict[str, Any]) -> dict[str, Any]:
    """A job as the API shows it."""
    return {
        "id": row["id"],
        "action": row["action"],
        "relay_id": row["relay_id"],
        "provider": row["provider"],
        "task_id": row["task_id"],
        "payload": json.loads(row["payload"]),
        "state": row["state"],
        "attempts": row["attempts"],
        "throttled": row["throttled"],
        "due_at": iso_time(row["due_at_ms"]),
        "last_error": row["last_error"],
        "created_at": iso_time(row["created_at_ms"]),
        "updated_at": iso_time(row["updated_at_ms"]),
    }


async def list_all(request: Request) -> Response:
    """``GET /api/jobs?state=&limit=&cursor=``: newest first."""
    state = request.query_params.get("state") or None
    if state is not None and state not in JOB_STATES:
        return error_response(400, "bad_query", f"state must be one of {', '.join(JOB_STATES)}")
    try:
        limit, cursor = parse_limit_cursor(request)
    except BadQuery as exc:
        return error_response(400, "bad_query", str(exc))
    found = await runtime_of(request).store.read(
        lambda conn: list_jobs(conn, state=state, limit=limit, cursor=cursor)
    )
    next_cursor = str(found[-1]["id"]) if len(found) == limit else None
    return json_response({"items": [job_view(r) for r in found], "next_cursor": next_cursor})


async def retry(request: Request) -> Response:
    """``POST /api/jobs/{id}/retry``: a dead job goes back to pending, due now."""
    try:
        job_id = int(request.path_params["job_id"])
    except ValueError:
        return error_response(404, "not_found", "no such job")
    store = runtime_of(request).store
    try:
        row = await store.write(lambda conn: retry_dead_job(conn, job_id))
    except StoreUnavailable as exc:
        return error_response(503, "store_unavailable", f"{exc}; retry later")
    if row is None:
        existing = await store.read(lambda conn: get_job(conn, job_id))
        if existing is None:
            return error_response(404, "not_found", f"no job #{job_id}")
        return error_response(
            409, "not_dead", f"job #{job_id} is {existing['state']}; only dead jobs are retried"
        )
    return json_response(job_view(row))


def job_routes() -> list[Route]:
    """The job routes."""
    return [
        Route("/api/jobs", list_all, methods=["GET"]),
        Route("/api/jobs/{job_id}/retry", retry, methods=["POST"]),
    ]
