"""``/api/jobs``: follow-up jobs, and retrying a dead one."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import parse_id, parse_limit_cursor
from receiver.domain.states import JobState
from receiver.http import enum_param, error_response, json_response
from receiver.runtime import runtime_of
from receiver.views import JobView, Page

__all__ = ["job_routes"]


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


def job_routes() -> list[Route]:
    """The job routes, relative to the ``/api`` mount."""
    return [
        Route("/jobs", list_all, methods=["GET"]),
        Route("/jobs/{job_id}/retry", retry, methods=["POST"]),
    ]
