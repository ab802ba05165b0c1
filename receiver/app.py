"""The ASGI application: routes, middleware and the lifespan that owns the store."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Callable, Sequence

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Mount

from receiver.api import api_routes
from receiver.callbacks import CallbackRoutes, callback_endpoints, callback_routes
from receiver.collector import STORE_COLLECTOR
from receiver.config import Settings
from receiver.domain.adoption import AdoptionLimits
from receiver.domain.plan import Planner
from receiver.events_api import event_routes
from receiver.forwards_api import forward_routes
from receiver.http import EXCEPTION_HANDLERS, error_response
from receiver.jobs_api import job_routes
from receiver.middleware import AccessLogMiddleware, AdminAuthMiddleware, ErrorGuardMiddleware
from receiver.ops import ops_routes
from receiver.orphans_api import orphan_routes
from receiver.relays_api import relay_routes
from receiver.runtime import BackgroundService, Runtime
from receiver.store.base import TokenRefused
from receiver.store.select import build_store, describe_database
from receiver.token_api import token_routes
from receiver.token_sync import TokenSync
from receiver.web import web_routes
from receiver.whip_api import whip_routes

__all__ = ["create_app"]

log = structlog.get_logger("relaywarden.app")

#: Builds the background services once the runtime (store, callback token) is ready.
ServiceFactory = Callable[[Runtime], Sequence[BackgroundService]]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    messages = {404: "no such route", 405: "method not allowed on this route"}
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    return error_response(exc.status_code, code, messages.get(exc.status_code, str(exc.detail)))


def create_app(
    settings: Settings,
    *,
    planner: Planner | None = None,
    services: ServiceFactory | None = None,
    on_ready: Callable[[Runtime], None] | None = None,
) -> Starlette:
    """Build the app; the store opens and services start in its lifespan."""
    store = build_store(settings.database_url, planner=planner)
    store.adoption_limits = AdoptionLimits(settings.adopt_max_relays, settings.adopt_per_minute)
    runtime = Runtime(settings=settings, store=store)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        await store.start()
        try:
            tokens = await store.callback_tokens(
                settings.callback_token, may_create=settings.new_token
            )
        except TokenRefused as exc:
            print(f"relaywarden: {exc}", file=sys.stderr, flush=True)
            await store.stop()
            raise
        runtime.set_tokens(tokens)
        STORE_COLLECTOR.bind(store)
        runtime.services = list(services(runtime)) if services is not None else []
        if settings.callback_token is None:  # a stored token: other replicas may rotate it
            runtime.services.append(TokenSync(runtime))
        for service in runtime.services:
            await service.start()
        log.info(
            "started",
            database=describe_database(settings.database_url),
            services=[s.name for s in runtime.services],
        )
        if on_ready is not None:
            on_ready(runtime)
        try:
            yield
        finally:
            for service in reversed(runtime.services):
                await service.stop()
            STORE_COLLECTOR.bind(None)
            await store.stop()
            log.info("stopped")

    api = Mount(
        "/api",
        routes=[
            *api_routes(),
            *relay_routes(),
            *job_routes(),
            *event_routes(),
            *forward_routes(),
            *token_routes(),
            *whip_routes(),
            *orphan_routes(),
        ],
        middleware=[Middleware(AdminAuthMiddleware, admin_token=settings.admin_token)],
    )
    callbacks = callback_endpoints(runtime)
    routes: list[BaseRoute] = [
        *callback_routes(callbacks),
        api,
        *ops_routes(),
        *web_routes(settings.admin_token),
    ]
    app = Starlette(
        routes=routes,
        middleware=[
            # Outermost: callbacks are answered before the generic middleware (they guard
            # and log themselves).
            Middleware(CallbackRoutes, endpoints=callbacks),
            Middleware(ErrorGuardMiddleware),
            Middleware(AccessLogMiddleware),
        ],
        exception_handlers={HTTPException: _http_error, **EXCEPTION_HANDLERS},
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    return app
