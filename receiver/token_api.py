"""``/api/token``: show the callback token, and rotate it.

The token is a secret: it is printed by ``serve`` once, when it is made, and otherwise only
shown by this admin route (``relaywarden token show``). Rotating stores a new token and
uses it at once; per-relay tokens already registered in relays' CallbackUrls derive from a
key the rotation keeps, so they go on working, while URLs that carry the main token must
be registered again.
"""

from __future__ import annotations

from urllib.parse import quote

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from receiver.http import error_response, json_response
from receiver.operator_views import TokenView
from receiver.redaction import register_secrets
from receiver.runtime import Runtime, runtime_of
from receiver.sources import CALLBACK_SOURCES, TokenAuth

__all__ = ["HIDDEN_TOKEN", "callback_urls", "token_routes"]

log = structlog.get_logger("relaywarden.api")

#: What stands for the token in URLs shown after it has been shown once.
HIDDEN_TOKEN = "<callback-token>"


def callback_urls(runtime: Runtime, *, with_token: bool) -> dict[str, str]:
    """The URL to register for each callback source, by source name.

    Sources that authenticate by a token in the URL carry the callback token (or, without
    ``with_token``, a note saying how to see it); the others are bare URLs.
    """
    base = runtime.settings.base_url
    token = quote(runtime.callback_token, safe="") if with_token else HIDDEN_TOKEN
    return {
        row.source.value: (
            f"{base}{row.path}?token={token}"
            if isinstance(row.auth, TokenAuth)
            else base + row.path
        )
        for row in CALLBACK_SOURCES
    }


def _view(runtime: Runtime) -> TokenView:
    return TokenView(
        runtime.callback_token,
        runtime.settings.callback_token is not None,
        callback_urls(runtime, with_token=True),
    )


async def show(request: Request) -> Response:
    """``GET /api/token``: the callback token and the CallbackUrls that carry it."""
    return json_response(_view(runtime_of(request)))


async def rotate(request: Request) -> Response:
    """``POST /api/token/rotate``: a new callback token, in use from this answer on."""
    runtime = runtime_of(request)
    if runtime.settings.callback_token is not None:
        return error_response(
            409,
            "token_configured",
            "RELAYWARDEN_CALLBACK_TOKEN sets the callback token; change it there and restart",
        )
    runtime.set_tokens(await runtime.store.rotate_callback_token())
    register_secrets(runtime.callback_token)  # masked in every log line from now on
    log.warning("callback_token_rotated")
    return json_response(_view(runtime))


def token_routes() -> list[Route]:
    """The token routes, relative to the ``/api`` mount."""
    return [
        Route("/token", show, methods=["GET"]),
        Route("/token/rotate", rotate, methods=["POST"]),
    ]
