"""The status page's routes: relay table, its refreshable fragment, relay detail, login."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict
from urllib.parse import parse_qs

import structlog
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from receiver.auth import token_matches
from receiver.domain.numbers import row_int
from receiver.http import BodyTooLarge, ClientDisconnect, read_body_limited
from receiver.runtime import runtime_of
from receiver.web.data import RELAY_STATES, RelayDetail, RelayRow, relay_detail, relay_rows
from receiver.web.session import (
    COOKIE_NAME,
    PageAuthMiddleware,
    request_is_authenticated,
    safe_next,
    set_session_cookie,
)

__all__ = ["web_routes"]

log = structlog.get_logger("relaywarden.web")

_HERE = Path(__file__).parent
TEMPLATES = Jinja2Templates(directory=_HERE / "templates")
#: Seconds between refreshes of the table; ``?refresh=N`` picks another (1..300).
DEFAULT_REFRESH_SECONDS = 5
_LOGIN_BODY_LIMIT = 8 * 1024


def _age(ms: int | None) -> str:
    if ms is None:
        return ""
    seconds = max(0, int(time.time() - ms / 1000))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _utc(ms: int | None) -> str:
    if ms is None:
        return ""
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


TEMPLATES.env.filters["age"] = _age
TEMPLATES.env.filters["utc"] = _utc


def _refresh_seconds(request: Request) -> int:
    raw = request.query_params.get("refresh", "")
    seconds = row_int(raw, minimum=1)
    return seconds if seconds is not None and seconds <= 300 else DEFAULT_REFRESH_SECONDS


def _html_error(request: Request, status: int, title: str, message: str) -> Response:
    return TEMPLATES.TemplateResponse(
        request, "error.html", {"title": title, "message": message}, status_code=status
    )


def _state_filter(request: Request) -> tuple[str | None, Response | None]:
    state = request.query_params.get("state") or None
    if state is not None and state not in RELAY_STATES:
        message = f"state must be one of {', '.join(RELAY_STATES)}"
        return None, _html_error(request, 400, "Unknown state", message)
    return state, None


class _Page(TypedDict):
    """What every page's template reads: its auto-refresh and whether to offer a logout."""

    refresh: int
    fragment_url: str
    logout: bool


class _TableContext(_Page):
    """The relay table's template context."""

    rows: list[RelayRow]
    state: str | None
    states: tuple[str, ...]


class _DetailContext(_Page):
    """A relay page's template context."""

    detail: RelayDetail
    relay: RelayRow


async def _table_context(request: Request) -> _TableContext | Response:
    state, problem = _state_filter(request)
    if problem is not None:
        return problem
    rows = await relay_rows(runtime_of(request).store, state=state)
    refresh = _refresh_seconds(request)
    query = f"?state={state}&refresh={refresh}" if state else f"?refresh={refresh}"
    return {
        "rows": rows,
        "state": state,
        "states": RELAY_STATES,
        "refresh": refresh,
        "fragment_url": f"/relays/table{query}",
        "logout": runtime_of(request).settings.admin_token is not None,
    }


async def _detail_context(request: Request) -> _DetailContext | Response:
    relay_id = request.path_params["relay_id"]
    detail = await relay_detail(runtime_of(request).store, relay_id)
    if detail is None:
        return _html_error(request, 404, "No such relay", f"no relay {relay_id!r}")
    refresh = _refresh_seconds(request)
    return {
        "detail": detail,
        "relay": detail.row,
        "refresh": refresh,
        "fragment_url": f"/relays/{relay_id}/history?refresh={refresh}",
        "logout": runtime_of(request).settings.admin_token is not None,
    }


Context = (
    Callable[[Request], Awaitable[_TableContext | Response]]
    | Callable[[Request], Awaitable[_DetailContext | Response]]
)


def _page(context_of: Context, template: str, doc: str) -> Callable[[Request], Awaitable[Response]]:
    """An endpoint rendering ``template`` with the context (or the error) ``context_of`` gives."""

    async def endpoint(request: Request) -> Response:
        context = await context_of(request)
        if isinstance(context, Response):
            return context
        return TEMPLATES.TemplateResponse(request, template, dict(context))

    endpoint.__doc__ = doc
    return endpoint


index = _page(_table_context, "index.html", "``GET /``: the relay table with its state filter.")
table_fragment = _page(
    _table_context, "_relay_table.html", "``GET /relays/table``: the table, for auto-refresh."
)
relay_page = _page(
    _detail_context, "relay.html", "``GET /relays/{id}``: a relay, its events and its jobs."
)
relay_history = _page(
    _detail_context,
    "_relay_history.html",
    "``GET /relays/{id}/history``: the detail's refreshable part.",
)


async def login_form(request: Request) -> Response:
    """``GET /login``: the admin-token form (straight to the page when already allowed)."""
    admin_token = runtime_of(request).settings.admin_token
    target = safe_next(request.query_params.get("next"))
    if admin_token is None or request_is_authenticated(request, admin_token):
        return RedirectResponse(target, status_code=303)
    return TEMPLATES.TemplateResponse(request, "login.html", {"next": target, "error": None})


async def login(request: Request) -> Response:
    """``POST /login``: check the admin token and set the session cookie."""
    admin_token = runtime_of(request).settings.admin_token
    try:
        body = await read_body_limited(request, _LOGIN_BODY_LIMIT)
    except (BodyTooLarge, ClientDisconnect):
        return _html_error(request, 400, "Bad login", "the login form was too large or cut off")
    fields = parse_qs(body.decode("utf-8", errors="replace"))
    target = safe_next((fields.get("next") or ["/"])[0])
    if admin_token is None:
        return RedirectResponse(target, status_code=303)
    given = (fields.get("token") or [""])[0].strip()
    if not token_matches(given, admin_token):
        log.warning("web_login_refused", client=request.client.host if request.client else None)
        context = {"next": target, "error": "That is not RELAYWARDEN_ADMIN_TOKEN."}
        return TEMPLATES.TemplateResponse(request, "login.html", context, status_code=401)
    response = RedirectResponse(target, status_code=303)
    set_session_cookie(response, request, admin_token)
    log.info("web_login")
    return response


async def logout(request: Request) -> Response:
    """``POST /logout``: forget the session cookie."""
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(COOKIE_NAME, path="/", httponly=True, samesite="strict")
    return response


def web_routes(admin_token: str | None) -> list[BaseRoute]:
    """The status page's routes; every page but login and static files needs the admin token.

    The guarded pages sit under one ``Mount("/relays")`` carrying the guard, plus ``/``
    itself: a catch-all ``Mount("/")`` would swallow other routes' 404 and 405 answers.
    """
    guard = [Middleware(PageAuthMiddleware, admin_token=admin_token)]
    relays = [
        Route("/table", table_fragment, methods=["GET"]),
        Route("/{relay_id}", relay_page, methods=["GET"]),
        Route("/{relay_id}/history", relay_history, methods=["GET"]),
    ]
    return [
        Route("/", index, methods=["GET"], middleware=guard),
        Mount("/relays", routes=relays, middleware=guard),
        Route("/login", login_form, methods=["GET"]),
        Route("/login", login, methods=["POST"]),
        Route("/logout", logout, methods=["POST"]),
        Mount("/static", StaticFiles(directory=_HERE / "static"), name="static"),
    ]
