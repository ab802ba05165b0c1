"""``GET /api/orphans``: provider tasks pointing at this service that no relay knows."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.http import json_response
from receiver.runtime import runtime_of

__all__ = ["orphan_routes"]


async def list_orphans(request: Request) -> Response:
    """``GET /api/orphans``."""
    return json_response(await runtime_of(request).orphans.snapshot())


def orphan_routes() -> list[Route]:
    """The orphan route, relative to the ``/api`` mount."""
    return [Route("/orphans", list_orphans, methods=["GET"])]
