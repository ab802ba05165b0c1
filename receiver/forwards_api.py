"""``/api/forwards``: the outbox of callbacks forwarded to ``RELAYWARDEN_FORWARD_URL``.

Listing (``?state=dead`` is the dead-letter list), one forward, and retrying dead ones.
Bodies are not shown: ``/api/events`` has them, by the forward's ``event_id``.
"""

from __future__ import annotations

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import parse_id, parse_limit, parse_limit_cursor
from receiver.domain.forwards import ForwardRecord, ForwardState
from receiver.http import enum_param, error_response, json_response
from receiver.runtime import runtime_of
from receiver.views import Page

__all__ = ["RETRY_DEAD_MAX", "RetriedForwards", "forward_routes"]

log = structlog.get_logger("relaywarden.api")

#: One bulk retry puts at most this many dead forwards back (a CLI loops until none left).
RETRY_DEAD_MAX = 500


class RetriedForwards(msgspec.Struct, frozen=True):
    """The dead forwards a retry put back in the outbox."""

    retried: list[ForwardRecord]


async def list_all(request: Request) -> Response:
    """``GET /api/forwards?state=&limit=&cursor=``: newest first."""
    state = enum_param(request, "state", ForwardState)
    limit, cursor = parse_limit_cursor(request)
    found = await runtime_of(request).store.list_forwards(state=state, limit=limit, cursor=cursor)
    next_cursor = str(found[-1].id) if len(found) == limit else None
    return json_response(Page(found, next_cursor))


async def show(request: Request) -> Response:
    """``GET /api/forwards/{id}``."""
    forward_id = parse_id(request, "forward_id")
    found = None if forward_id is None else await runtime_of(request).store.get_forward(forward_id)
    if found is None:
        return error_response(404, "not_found", "no such forward")
    return json_response(found)


async def retry(request: Request) -> Response:
    """``POST /api/forwards/{id}/retry``: a dead forward goes back to pending, due now."""
    forward_id = parse_id(request, "forward_id")
    if forward_id is None:
        return error_response(404, "not_found", "no such forward")
    store = runtime_of(request).store
    retried = await store.retry_dead_forwards(forward_id=forward_id, limit=1)
    if not retried:
        existing = await store.get_forward(forward_id)
        if existing is None:
            return error_response(404, "not_found", f"no forward #{forward_id}")
        return error_response(
            409,
            "not_dead",
            f"forward #{forward_id} is {existing.state}; only dead forwards are retried",
        )
    _woken(request, len(retried))
    return json_response(retried[0])


async def retry_dead(request: Request) -> Response:
    """``POST /api/forwards/retry-dead?limit=``: the oldest dead forwards back to pending."""
    limit = parse_limit(request, default=RETRY_DEAD_MAX)
    retried = await runtime_of(request).store.retry_dead_forwards(limit=limit)
    _woken(request, len(retried))
    return json_response(RetriedForwards(retried))


def _woken(request: Request, count: int) -> None:
    if count:
        runtime_of(request).forwards_queued.set()
        log.info("dead_forwards_retried", count=count)


def forward_routes() -> list[Route]:
    """The forward routes, relative to the ``/api`` mount."""
    return [
        Route("/forwards", list_all, methods=["GET"]),
        Route("/forwards/retry-dead", retry_dead, methods=["POST"]),
        Route("/forwards/{forward_id}", show, methods=["GET"]),
        Route("/forwards/{forward_id}/retry", retry, methods=["POST"]),
    ]
