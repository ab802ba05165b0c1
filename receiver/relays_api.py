"""``/api/relays``: declare, list, inspect and stop managing relays.

The declaration is decoded into ``RelaySpec`` (and checked by ``declaration_problem``)
here, once; everything past this edge works with the typed relay.
"""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.api import parse_limit
from receiver.auth import relay_callback_token
from receiver.domain.relay import RelaySpec, declaration_problem, new_relay_id
from receiver.domain.states import RelayState
from receiver.http import (
    BodyTooLarge,
    ClientDisconnect,
    enum_param,
    error_response,
    json_response,
    read_body_limited,
)
from receiver.logs import redact_url
from receiver.operator_views import RelayDeclared
from receiver.runtime import Runtime, runtime_of
from receiver.store.base import Conflict, DeclareOutcome
from receiver.views import Page, RelayAccepted, RelayView

__all__ = ["relay_callback_url", "relay_routes"]

_DECODER = msgspec.json.Decoder(RelaySpec)
log = structlog.get_logger("relaywarden.api")


def relay_callback_url(runtime: Runtime, relay_id: str, region: str) -> str:
    """The CallbackUrl relaywarden registers for a relay's tasks (per-relay token)."""
    token = relay_callback_token(runtime.relay_token_key or runtime.callback_token, relay_id)
    return f"{runtime.callback_url(relay_id=relay_id, token=token)}&region={quote(region, safe='')}"


async def _declaration(request: Request, name: str | None = None) -> RelaySpec | Response:
    """The checked declaration in the body (``name`` from the path, when given), or an error."""
    runtime = runtime_of(request)
    try:
        body = await read_body_limited(request, runtime.settings.max_body_bytes)
    except BodyTooLarge:
        return error_response(413, "too_large", "relay declarations are limited to 1 MiB")
    except ClientDisconnect:
        return error_response(400, "disconnected", "the client disconnected mid-body")
    try:
        if name is None:
            spec = _DECODER.decode(body)
        else:
            raw = msgspec.json.decode(body)
            if not isinstance(raw, dict):
                return error_response(400, "invalid_relay", "a relay declaration is a JSON object")
            if raw.setdefault("name", name) != name:
                return error_response(
                    400, "name_mismatch", f"the body names {raw['name']!r}, the path {name!r}"
                )
            spec = msgspec.convert(raw, RelaySpec)
    except (msgspec.ValidationError, msgspec.DecodeError, ValueError) as exc:
        return error_response(400, "invalid_relay", f"relay declaration rejected: {exc}")
    problem = declaration_problem(spec, datetime.now(UTC))
    if problem is not None:
        return error_response(400, "invalid_relay", problem)
    return spec


async def create(request: Request) -> Response:
    """``POST /api/relays``: 202 with ``{"id", "state", "callback_url"}``; 409 for a taken name."""
    runtime = runtime_of(request)
    spec = await _declaration(request)
    if isinstance(spec, Response):
        return spec
    try:
        relay = await runtime.store.declare_relay(new_relay_id(), spec)
    except Conflict as exc:
        return error_response(409, "conflict", f"relay conflicts with an existing one: {exc}")
    url = relay_callback_url(runtime, relay.id, relay.region)
    return json_response(RelayAccepted(relay.id, relay.state, redact_url(url)), 202)


async def put(request: Request) -> Response:
    """``PUT /api/relays/{name}``: create, update or leave unchanged the relay of that name.

    201 when created, 200 otherwise; the answer's ``outcome`` says which. Updated parameters
    take effect when the relay's task is next (re-)created.
    """
    runtime = runtime_of(request)
    name = request.path_params["relay_id"]
    spec = await _declaration(request, name)
    if isinstance(spec, Response):
        return spec
    try:
        relay, outcome = await runtime.store.put_relay(new_relay_id(), spec)
    except Conflict as exc:
        return error_response(409, "conflict", str(exc))
    if outcome is not DeclareOutcome.UNCHANGED:
        log.info("relay_declared", relay_id=relay.id, outcome=outcome.value)
    url = redact_url(relay_callback_url(runtime, relay.id, relay.region))
    status = 201 if outcome is DeclareOutcome.CREATED else 200
    return json_response(RelayDeclared(relay.id, relay.name, relay.state, outcome, url), status)


async def list_all(request: Request) -> Response:
    """``GET /api/relays?state=&limit=&cursor=``."""
    state = enum_param(request, "state", RelayState)
    limit = parse_limit(request)
    cursor = request.query_params.get("cursor") or None
    records, next_cursor = await runtime_of(request).store.list_relays(
        state=state, limit=limit, cursor=cursor
    )
    return json_response(Page([RelayView.of(r) for r in records], next_cursor))


async def get_one(request: Request) -> Response:
    """``GET /api/relays/{id}``: the relay, its ingests, its tasks and its channel's status."""
    runtime = runtime_of(request)
    relay_id = request.path_params["relay_id"]
    record = await runtime.store.get_relay_record(relay_id)
    if record is None:
        return error_response(404, "not_found", f"no relay {relay_id!r}")
    providers = runtime.providers
    reading = None if providers is None else await providers.channel_status(record.relay)
    return json_response(RelayView.of(record, with_tasks=True, channel=reading))


async def delete(request: Request) -> Response:
    """``DELETE /api/relays/{id}``: delete its current task and stop its ingests (a job)."""
    relay_id = request.path_params["relay_id"]
    relay = await runtime_of(request).store.request_relay_delete(relay_id)
    if relay is None:
        return error_response(404, "not_found", f"no relay {relay_id!r}")
    return json_response(RelayAccepted(relay_id, relay.state), 202)


def relay_routes() -> list[Route]:
    """The relay routes, relative to the ``/api`` mount."""
    return [
        Route("/relays", create, methods=["POST"]),
        Route("/relays", list_all, methods=["GET"]),
        Route("/relays/{relay_id}", get_one, methods=["GET"]),
        Route("/relays/{relay_id}", put, methods=["PUT"]),
        Route("/relays/{relay_id}", delete, methods=["DELETE"]),
    ]
