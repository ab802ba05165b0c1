"""HTTP helpers shared by routes: bounded bodies, JSON answers, and the error mapping.

``EXCEPTION_HANDLERS`` is the one place store and query errors become answers: a store
that cannot commit is 503 (retry later), a query the route cannot use is 400.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator
from typing import Any, TypeVar

import msgspec
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from receiver.store.base import BadCursor, StoreUnavailable

__all__ = [
    "EXCEPTION_HANDLERS",
    "BadQuery",
    "BodyTooLarge",
    "ClientDisconnect",
    "collect_limited",
    "enum_param",
    "error_response",
    "json_response",
    "read_body_limited",
]

E = TypeVar("E", bound=enum.StrEnum)
log = structlog.get_logger("relaywarden.http")


class BadQuery(ValueError):
    """A query parameter has a value we cannot use (answered 400 ``bad_query``)."""


def enum_param(request: Request, name: str, kind: type[E]) -> E | None:
    """Query parameter ``name`` as a member of ``kind`` (None when absent)."""
    raw = request.query_params.get(name) or None
    if raw is None:
        return None
    try:
        return kind(raw)
    except ValueError:
        raise BadQuery(f"{name} must be one of {', '.join(m.value for m in kind)}") from None


_ENCODER = msgspec.json.Encoder()


class BodyTooLarge(Exception):
    """The request body exceeds the limit; reading stopped at the limit."""


async def read_body_limited(request: Request, limit: int) -> bytes:
    """Read the body incrementally, refusing anything over ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted as it arrives, so a huge upload is never buffered whole.
    """
    declared = request.headers.get("content-length")
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass
    return await collect_limited(request.stream(), limit)


async def collect_limited(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Join the chunks of ``stream``; raise BodyTooLarge as soon as they exceed ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return b"".join(chunks)


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response encoded by msgspec."""
    return Response(_ENCODER.encode(content), status_code, media_type="application/json")


def error_response(status_code: int, code: str, message: str) -> Response:
    """The uniform error body ``{"error": {"code", "message"}}``."""
    return json_response({"error": {"code": code, "message": message}}, status_code)


async def _bad_query(request: Request, exc: Exception) -> Response:
    return error_response(400, "bad_query", str(exc))


async def _store_unavailable(request: Request, exc: Exception) -> Response:
    log.warning("store_unavailable", path=request.url.path, error=str(exc))
    return error_response(503, "store_unavailable", f"{exc}; retry later")


#: Exception handlers of the app (Starlette's ``exception_handlers``).
EXCEPTION_HANDLERS = {
    BadQuery: _bad_query,
    BadCursor: _bad_query,
    StoreUnavailable: _store_unavailable,
}
