"""Small HTTP helpers shared by routes: bounded body reading and JSON error bodies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

__all__ = [
    "BodyTooLarge",
    "ClientDisconnect",
    "collect_limited",
    "error_response",
    "json_response",
    "read_body_limited",
]

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
