"""The table of callback sources: route, authentication scheme, decoder, provider.

A new callback source is a decoder module, a ``Source`` member and one row of
``CALLBACK_SOURCES``; the routes, the replay of quarantined bodies and the metric labels
follow from the table.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from receiver.auth import (
    callback_token_valid,
    css_callback_signed,
    token_matches,
    trtc_sign_matches,
)
from receiver.decoders.aliyun import decode_aliyun_pull_to_push
from receiver.decoders.tencent import decode_tencent_pull_to_push
from receiver.decoders.trtc import decode_trtc
from receiver.domain.states import Provider, Source
from receiver.events import Event
from receiver.http import CallbackRequest
from receiver.runtime import Runtime

__all__ = [
    "CALLBACK_SOURCES",
    "AuthScheme",
    "CallbackSource",
    "Decoder",
    "TokenAuth",
    "TrtcSignAuth",
]

#: Turns an authenticated body (and routing facts from the URL) into an event.
Decoder = Callable[[bytes, dict[str, str]], Event]

_BAD_TOKEN = "missing or wrong token: register the CallbackUrl that relaywarden printed"
_BAD_CSS_SIGN = "missing, wrong or expired body sign/t: check RELAYWARDEN_CSS_CALLBACK_KEY"


class AuthScheme(Protocol):
    """How a source's callbacks prove who sent them. Each check answers a refusal or None."""

    def refuse_request(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        """Why the request is refused before its body is read (None: go on)."""
        ...

    def refuse_body(self, request: CallbackRequest, runtime: Runtime, body: bytes) -> str | None:
        """Why the request is refused once its body is read (None: authenticated)."""
        ...

    def context(self, request: CallbackRequest) -> dict[str, str]:
        """Routing facts the decoder gets along with the body."""
        ...

    def scope(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        """The relay an authenticated request may speak for only (None: any task)."""
        ...


@dataclass(frozen=True)
class TokenAuth:
    """The callback token (or a relay's own token) in the URL.

    With ``css_sign``, a configured ``RELAYWARDEN_CSS_CALLBACK_KEY`` also requires the
    body's ``t``/``sign`` fields.
    """

    css_sign: bool = False

    def refuse_request(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        given, relay = request.query("token"), request.query("relay")
        token, relay_key = runtime.callback_token, runtime.relay_token_key
        if not callback_token_valid(given, token, relay, relay_key):
            return _BAD_TOKEN
        return None

    def refuse_body(self, request: CallbackRequest, runtime: Runtime, body: bytes) -> str | None:
        key = runtime.settings.css_callback_key
        if self.css_sign and key and not css_callback_signed(key, body):
            return _BAD_CSS_SIGN
        return None

    def context(self, request: CallbackRequest) -> dict[str, str]:
        return {key: value for key in ("relay", "region") if (value := request.query(key))}

    def scope(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        # Authenticated already: anything but the main token is the named relay's own.
        if token_matches(request.query("token"), runtime.callback_token):
            return None
        return request.query("relay")


@dataclass(frozen=True)
class TrtcSignAuth:
    """The ``Sign`` header: HMAC-SHA256 of the raw body with the configured TRTC key."""

    def refuse_request(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        if runtime.settings.trtc_callback_key is None:
            return "TRTC callbacks are refused: RELAYWARDEN_TRTC_CALLBACK_KEY is not set"
        return None

    def refuse_body(self, request: CallbackRequest, runtime: Runtime, body: bytes) -> str | None:
        key = runtime.settings.trtc_callback_key
        if key is None or not trtc_sign_matches(key, body, request.header(b"sign")):
            return "missing or wrong Sign header for this body"
        return None

    def context(self, request: CallbackRequest) -> dict[str, str]:
        sdk_app_id = request.header(b"sdkappid")
        return {"sdk_app_id": sdk_app_id} if sdk_app_id else {}

    def scope(self, request: CallbackRequest, runtime: Runtime) -> str | None:
        return None  # the console key signs for the whole application


@dataclass(frozen=True)
class CallbackSource:
    """One row of the table."""

    source: Source
    path: str
    auth: AuthScheme
    decoder: Decoder
    provider: Provider


CALLBACK_SOURCES: tuple[CallbackSource, ...] = (
    CallbackSource(
        Source.ALIYUN_PULL_TO_PUSH,
        "/callbacks/aliyun/pull-to-push",
        TokenAuth(),
        decode_aliyun_pull_to_push,
        Provider.ALIYUN,
    ),
    CallbackSource(Source.TRTC, "/callbacks/trtc", TrtcSignAuth(), decode_trtc, Provider.TRTC),
    CallbackSource(
        Source.TENCENT_PULL_TO_PUSH,
        "/callbacks/tencent/pull-to-push",
        TokenAuth(css_sign=True),
        decode_tencent_pull_to_push,
        Provider.TENCENT,
    ),
)
