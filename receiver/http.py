"""HTTP helpers shared by routes: bounded bodies, JSON answers, and the error mapping.

``EXCEPTION_HANDLERS`` is the one place store and query errors become answers: a store
that cannot commit is 503 (retry later), a query the route cannot use is 400.
"""

from __future__ import annotations

import enum
from collections.abc import AsyncIterator, Awaitable, Callable, MutableMapping
from typing import Any, TypeVar
from urllib.parse import parse_qsl

import msgspec
import structlog
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from receiver.store.base import BadCursor, StoreUnavailable

__all__ = [
    "EXCEPTION_HANDLERS",
    "BadQuery",
    "BodyTooLarge",
    "CallbackRequest",
    "ClientDisconnect",
    "collect_limited",
    "enum_param",
    "error_body",
    "error_response",
    "json_response",
    "read_body_limited",
    "receive_body_limited",
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


class CallbackRequest:
    """What a callback's authentication reads of its request: query parameters, headers.

    A thin view of the ASGI scope, so the callback path builds no framework request.
    """

    __slots__ = ("_query", "scope")

    def __init__(self, scope: MutableMapping[str, Any]) -> None:
        self.scope = scope
        self._query: dict[str, str] | None = None

    def query(self, name: str) -> str | None:
        """The value of query parameter ``name``, or None."""
        if self._query is None:
            raw = self.scope["query_string"].decode("latin-1")
            if "%" in raw or "+" in raw:
                pairs = parse_qsl(raw, keep_blank_values=True)
            else:  # nothing to unquote: the common case, split without urllib's overhead
                pairs = [(k, v) for k, _, v in (p.partition("=") for p in raw.split("&") if p)]
            self._query = dict(pairs)  # a repeated parameter: the last value, as Starlette
        return self._query.get(name)

    def header(self, name: bytes) -> str | None:
        """The first value of header ``name`` (lower case), or None."""
        for key, value in self.scope["headers"]:
            if key == name:
                return str(value.decode("latin-1"))
        return None


async def receive_body_limited(
    receive: Callable[[], Awaitable[Any]], declared: str | None, limit: int
) -> bytes:
    """Read an ASGI request body incrementally, refusing anything over ``limit`` bytes.

    A declared Content-Length over the limit is refused before reading; a chunked body is
    counted as it arrives, so a huge upload is never buffered whole.
    """
    if declared is not None:
        try:
            if int(declared) > limit:
                raise BodyTooLarge
        except ValueError:
            pass
    return await collect_limited(_chunks(receive), limit)


async def _chunks(receive: Callable[[], Awaitable[Any]]) -> AsyncIterator[bytes]:
    """The body chunks of an ASGI request; ClientDisconnect if the client goes away."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect
        yield message.get("body", b"")
        if not message.get("more_body", False):
            return


async def collect_limited(stream: AsyncIterator[bytes], limit: int) -> bytes:
    """Join the chunks of ``stream``; raise BodyTooLarge as soon as they exceed ``limit``."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge
        chunks.append(chunk)
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


async def read_body_limited(request: Request, limit: int) -> bytes:
    """``receive_body_limited`` for a route's request."""
    return await receive_body_limited(request.receive, request.headers.get("content-length"), limit)


def json_response(content: Any, status_code: int = 200) -> Response:
    """A JSON response encoded by msgspec."""
    return Response(_ENCODER.encode(content), status_code, media_type="application/json")


def error_body(code: str, message: str) -> bytes:
    """The uniform error body ``{"error": {"code", "message"}}``, encoded."""
    return _ENCODER.encode({"error": {"code": code, "message": message}})


def error_response(status_code: int, code: str, message: str) -> Response:
    """The uniform error body as a response."""
    return Response(error_body(code, message), status_code, media_type="application/json")


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
