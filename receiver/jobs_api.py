"""``/api/jobs``: follow-up jobs, and retrying a dead one."""

from __future__ import annotations

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import parse_id, parse_limit, parse_limit_cursor
from receiver.domain.states import JobAction, JobState
from receiver.http import enum_param, error_response, json_response
from receiver.operator_views import RetriedJobs
from receiver.runtime import runtime_of
from receiver.views import JobView, Page

__all__ = ["job_routes"]

log = structlog.get_logger("relaywarden.api")


async def list_all(request: Request) -> Response:
    """``GET /api/jobs?state=&limit=&cursor=``: newest first."""
    state = enum_param(request, "state", JobState)
    limit, cursor = parse_limit_cursor(request)
    found = await runtime_of(request).store.list_jobs(state=state, limit=limit, cursor=cursor)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return json_response(Page([JobView.of(j) for j in found], next_cursor))


async def retry(request: Request) -> Response:
    """``POST /api/jobs/{id}/retry``: a dead job goes back to pending, due now."""
    job_id = parse_id(request, "job_id")
    if job_id is None:
        return error_response(404, "not_found", "no such job")
    store = runtime_of(request).store
    job = await store.retry_dead_job(job_id)
    if job is None:
        existing = await store.get_job(job_id)
        if existing is None:
            return error_response(404, "not_found", f"no job #{job_id}")
        return error_response(
            409, "not_dead", f"job #{job_id} is {existing.state}; only dead jobs are retried"
        )
    return json_response(JobView.of(job))


#: One bulk retry puts at most this many dead jobs back (a CLI loops until none are left).
RETRY_DEAD_MAX = 500


async def retry_dead(request: Request) -> Response:
    """``POST /api/jobs/retry-dead?relay=&action=&limit=``: dead jobs back to pending.

    Oldest first, at most ``limit`` (default and maximum 500) in one transaction; the
    answer lists the jobs retried, so an empty list means no dead job was left.
    """
    action = enum_param(request, "action", JobAction)
    limit = parse_limit(request, default=RETRY_DEAD_MAX)
    retried = await runtime_of(request).store.retry_dead_jobs(
        relay_id=request.query_params.get("relay") or None,
        action=action.value if action else None,
        limit=limit,
    )
    if retried:
        log.info("dead_jobs_retried", count=len(retried))
    return json_response(RetriedJobs([JobView.of(j) for j in retried]))


def job_routes() -> list[Route]:
    """The job routes, relative to the ``/api`` mount."""
    return [
        Route("/jobs", list_all, methods=["GET"]),
        Route("/jobs/retry-dead", retry_dead, methods=["POST"]),
        Route("/jobs/{job_id}/retry", retry, methods=["POST"]),
    ]
