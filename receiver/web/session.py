"""Who may see the status page: the admin bearer token, or the cookie the login form sets.

The cookie holds a value derived from the admin token, never the token itself, so a cookie
read off a browser does not open ``/api``. With no admin token configured (allowed only on
loopback) the pages are open, like ``/api``.
"""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from receiver.auth import bearer_token_matches, token_matches
from receiver.http import error_response

__all__ = [
    "COOKIE_NAME",
    "PageAuthMiddleware",
    "request_is_authenticated",
    "safe_next",
    "session_value",
    "set_session_cookie",
]

COOKIE_NAME = "relaywarden_session"
#: Browsers keep the login for a working day; the value changes with the admin token.
COOKIE_MAX_AGE = 12 * 3600


def session_value(admin_token: str) -> str:
    """The cookie value for ``admin_token`` (an HMAC, so the token cannot be read back)."""
    return hmac.new(admin_token.encode(), b"relaywarden-web-session-v1", hashlib.sha256).hexdigest()


def request_is_authenticated(request: Request, admin_token: str | None) -> bool:
    """True when the request carries the admin token or a valid session cookie."""
    if admin_token is None:
        return True
    if bearer_token_matches(request.headers.get("authorization"), admin_token):
        return True
    return token_matches(request.cookies.get(COOKIE_NAME), session_value(admin_token))


def set_session_cookie(response: Response, request: Request, admin_token: str) -> None:
    """Log the browser in: HttpOnly, SameSite=Strict, Secure when served over HTTPS."""
    response.set_cookie(
        COOKIE_NAME,
        session_value(admin_token),
        max_age=COOKIE_MAX_AGE,
        path="/",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )


def safe_next(target: str | None) -> str:
    """A local path to return to after login (never another site)."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


class PageAuthMiddleware:
    """Guard a page: HTML requests go to the login form, fragment requests get a JSON 401."""

    def __init__(self, app: ASGIApp, admin_token: str | None) -> None:
        self.app = app
        self.admin_token = admin_token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        if request_is_authenticated(request, self.admin_token):
            await self.app(scope, receive, send)
            return
        response: Response
        if request.headers.get("x-requested-with") == "relaywarden-refresh":
            response = error_response(401, "unauthorized", "log in again at /login")
        else:
            here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
            response = RedirectResponse(f"/login?next={quote(here, safe='')}", status_code=303)
        await response(scope, receive, send)
