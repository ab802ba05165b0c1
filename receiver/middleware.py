"""ASGI middleware: admin-token guard, access log with redacted paths, last-resort errors."""

from __future__ import annotations

import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from receiver.auth import bearer_token_matches
from receiver.http import error_response

__all__ = ["PROBE_PATHS", "AccessLogMiddleware", "AdminAuthMiddleware", "ErrorGuardMiddleware"]

log = structlog.get_logger("relaywarden.http")

#: Paths polled by load balancers and Prometheus: logged at debug unless they fail.
PROBE_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})


class AdminAuthMiddleware:
    """Require ``Authorization: Bearer <RELAYWARDEN_ADMIN_TOKEN>`` on what it wraps.

    The app installs it on the ``/api`` mount, so the routes under it are guarded by
    construction rather than by a path check.
    """

    def __init__(self, app: ASGIApp, admin_token: str | None) -> None:
        self.app = app
        self.admin_token = admin_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.admin_token is not None:
            header = None
            for name, value in scope["headers"]:
                if name == b"authorization":
                    header = value.decode("latin-1")
                    break
            if not bearer_token_matches(header, self.admin_token):
                response = error_response(
                    401, "unauthorized", "send Authorization: Bearer <RELAYWARDEN_ADMIN_TOKEN>"
                )
                response.headers["WWW-Authenticate"] = "Bearer"
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class AccessLogMiddleware:
    """One log line per non-callback request (callback routes log their own, richer line);
    successful probes and scrapes (``PROBE_PATHS``) at debug level."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith("/callbacks/"):
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 0

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            # Probes and scrapes come every few seconds: they would drown the log at info.
            quiet = scope["path"] in PROBE_PATHS and 0 < status < 400
            (log.debug if quiet else log.info)(
                "http_request",
                method=scope["method"],
                path=scope["path"],  # never the query string: it may carry a token
                status=status,
                duration_ms=round((time.perf_counter() - started) * 1000, 3),
            )


class ErrorGuardMiddleware:
    """Turn an unexpected exception into a JSON error and a log line, never a traceback page.

    Routes are written not to raise; this is the net under them.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            log.exception("unhandled_error", method=scope.get("method"), path=scope["path"])
            if not started:
                response = error_response(
                    500, "internal_error", "relaywarden failed to handle this request; see its log"
                )
                await response(scope, receive, send)
