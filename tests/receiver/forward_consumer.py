"""A consumer of forwarded callbacks for the tests, served on loopback by real uvicorn.

It checks our signature on every request it gets (``receiver.forward_signing.verify``),
fails the first ``fail_first`` of them (or all while ``failing``), and records each.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.forward_signing import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from tests.support.servers import serve_in_thread

__all__ = ["Consumer", "Delivery"]


@dataclass(frozen=True)
class Delivery:
    """One request the consumer got: headers (lower case), body, whether it verified."""

    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    verified: bool
    answered: int


@dataclass
class Consumer:
    """The operator's own callback consumer, as relaywarden forwards to it."""

    secret: str
    fail_first: int = 0
    failing: bool = False
    deliveries: list[Delivery] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    async def _receive(self, request: Request) -> Response:
        body = await request.body()
        headers = {k.lower(): v for k, v in request.headers.items()}
        verified = verify(
            self.secret, headers.get(TIMESTAMP_HEADER), body, headers.get(SIGNATURE_HEADER)
        )
        with self._lock:
            refuse = self.failing or len(self.deliveries) < self.fail_first
            status = 401 if not verified else (503 if refuse else 204)
            self.deliveries.append(
                Delivery(request.url.path, request.url.query, headers, body, verified, status)
            )
        return Response(status_code=status)

    def accepted(self) -> list[Delivery]:
        """The deliveries answered 2xx."""
        with self._lock:
            return [d for d in self.deliveries if d.answered < 300]

    @contextlib.contextmanager
    def serve(self, port: int | None = None) -> Iterator[str]:
        """Serve on 127.0.0.1; yields the URL to forward to."""
        app = Starlette(routes=[Route("/hook", self._receive, methods=["POST"])])
        with serve_in_thread(app, port=port) as base:
            yield f"{base}/hook"
