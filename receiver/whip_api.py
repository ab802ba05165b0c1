"""``POST /api/relays/{id}/whip``: mint a WHIP backup ingest URL for a relay's ARTC channel.

The answer carries the address once; it is never stored, and the log line of the grant names
the relay and the minted UserId only. CreateRTCWhipStreamAddress has a budget of its own
(40 calls/s per account), enforced by the client's limiter like every other budget.
"""

from __future__ import annotations

import msgspec
import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.follow_up_views import WhipRequest, WhipView
from receiver.http import (
    BodyTooLarge,
    ClientDisconnect,
    error_response,
    json_response,
    read_body_limited,
)
from receiver.relay_providers import ProviderCallFailed
from receiver.runtime import runtime_of

__all__ = ["MAX_WHIP_EXPIRE", "whip_routes"]

log = structlog.get_logger("relaywarden.api")

_DECODER = msgspec.json.Decoder(WhipRequest)
#: The longest lifetime accepted for a WHIP URL (seven days).
MAX_WHIP_EXPIRE = 7 * 86_400
_BODY_LIMIT = 4096


def _problem(body: WhipRequest) -> str | None:
    if not 1 <= body.ExpireTime <= MAX_WHIP_EXPIRE:
        return f"ExpireTime must be within 1-{MAX_WHIP_EXPIRE} seconds"
    if body.DisplayName is not None and not 1 <= len(body.DisplayName) <= 64:
        return "DisplayName must be 1-64 characters"
    return None


async def mint(request: Request) -> Response:
    """Mint a WHIP URL: 200 with ``WhipAddress``, ``UserId``, ``ExpireTime``, ``expires_at``."""
    runtime = runtime_of(request)
    relay_id = request.path_params["relay_id"]
    try:
        raw = await read_body_limited(request, _BODY_LIMIT)
    except BodyTooLarge:
        return error_response(413, "too_large", f"the body is limited to {_BODY_LIMIT} bytes")
    except ClientDisconnect:
        return error_response(400, "disconnected", "the client disconnected mid-body")
    try:
        body = _DECODER.decode(raw) if raw.strip() else WhipRequest()
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        log.info("whip_rejected", relay_id=relay_id, reason=str(exc))
        return error_response(400, "invalid_whip_request", f"body rejected: {exc}")
    problem = _problem(body)
    if problem is not None:
        log.info("whip_rejected", relay_id=relay_id, reason=problem)
        return error_response(400, "invalid_whip_request", problem)
    relay = await runtime.store.get_relay(relay_id)
    if relay is None:
        return error_response(404, "not_found", f"no relay {relay_id!r}")
    if relay.artc is None:
        return error_response(
            409, "no_artc", "the relay declares no artc channel to mint a WHIP URL for"
        )
    if runtime.providers is None:
        return error_response(503, "not_configured", "provider clients are not configured")
    name = body.DisplayName or f"backup {relay.name}"[:64]
    try:
        grant = await runtime.providers.mint_whip(
            relay, display_name=name, expire_seconds=body.ExpireTime
        )
    except ProviderCallFailed as failed:
        log.warning("whip_failed", relay_id=relay_id, code=failed.code, message=failed.message)
        response = error_response(failed.status, failed.code, failed.message)
        if failed.retry_after is not None:
            response.headers["Retry-After"] = str(max(1, round(failed.retry_after)))
        return response
    log.info("whip_minted", relay_id=relay_id, user_id=grant.user_id, expire=grant.expire_seconds)
    return json_response(WhipView.of(grant))


def whip_routes() -> list[Route]:
    """The WHIP route, relative to the ``/api`` mount."""
    return [Route("/relays/{relay_id}/whip", mint, methods=["POST"])]
