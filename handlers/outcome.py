"""Classified results of provider API calls, and the error raised for anything but success.

The classification follows the providers' documents: judged by the error code, not by
the HTTP status; the status only decides when the code is absent or unknown.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from typing import Any, TypedDict

from receiver.redaction import bounded, mask_text

__all__ = [
    "ALIYUN_RESIGN_CODES",
    "MAX_PROVIDER_TEXT",
    "TRTC_RESIGN_CODES",
    "Outcome",
    "ProviderError",
    "classify_aliyun",
    "classify_trtc",
    "sanitize",
]


class Outcome(enum.StrEnum):
    """What a provider call came to, as far as retrying is concerned."""

    OK = "ok"
    THROTTLED = "throttled"  # the provider's rate limit: retry later, not a failure
    RETRYABLE = "retryable"  # transient: retry with backoff
    REJECTED = "rejected"  # permanent: retrying the same request cannot help


#: Alibaba codes that mean "sign again with a fresh nonce/date and resend".
ALIYUN_RESIGN_CODES = frozenset({"SignatureNonceUsed", "InvalidTimeStamp.Expired"})
#: TRTC codes that mean "sign again with a fresh timestamp and resend" (once).
TRTC_RESIGN_CODES = frozenset({"AuthFailure.SignatureExpire"})

_ALIYUN_THROTTLING = ("Throttling",)
_ALIYUN_RETRYABLE = ("InternalError", "ServiceUnavailable", "UnknownError")
_ALIYUN_REJECTED_PREFIXES = ("InvalidParameter", "InvalidParam", "Missing", "InvalidAccessKeyId")
_ALIYUN_REJECTED = frozenset(
    {"SignatureDoesNotMatch", "IncompleteSignature", "Forbidden", "CodeTaskNotExist"}
)

_TRTC_THROTTLING = ("RequestLimitExceeded",)
_TRTC_THROTTLING_EXACT = frozenset(
    {"FailedOperation.RestrictedFrequency", "OperationDenied.FreqOverLimit"}
)
_TRTC_RETRYABLE = ("InternalError", "ResourceInsufficient")
_TRTC_RETRYABLE_EXACT = frozenset({"ServiceUnavailable", "ResourceUnavailable"})


def _family(code: str, families: Iterable[str]) -> bool:
    """``code`` is one of ``families`` or a dotted sub-code of one (``Throttling.User``)."""
    return any(code == name or code.startswith(name + ".") for name in families)


def classify_aliyun(status: int, code: str | None) -> Outcome:
    """Classify an Alibaba Cloud OpenAPI answer by its error ``Code`` (then its HTTP status).

    Throttling codes are THROTTLED; ``InternalError``, ``ServiceUnavailable``,
    ``UnknownError`` and the re-sign codes (``SignatureNonceUsed``,
    ``InvalidTimeStamp.Expired``) are RETRYABLE; known client errors are REJECTED whatever
    the status. Without a code, or with an unknown one, a 5xx is RETRYABLE, a 429 THROTTLED,
    and any other 4xx REJECTED. A 2xx without a code is OK.
    """
    if code:
        if _family(code, _ALIYUN_THROTTLING):
            return Outcome.THROTTLED
        if _family(code, _ALIYUN_RETRYABLE) or code in ALIYUN_RESIGN_CODES:
            return Outcome.RETRYABLE
        if code in _ALIYUN_REJECTED or code.startswith(_ALIYUN_REJECTED_PREFIXES):
            return Outcome.REJECTED
    elif 200 <= status < 300:
        return Outcome.OK
    if status == 429:
        return Outcome.THROTTLED
    if status >= 500:
        return Outcome.RETRYABLE
    return Outcome.REJECTED


def classify_trtc(code: str | None) -> Outcome:
    """Classify a Tencent Cloud API 3.0 answer by its ``Response.Error.Code`` (None: success).

    ``RequestLimitExceeded*``, ``FailedOperation.RestrictedFrequency`` and
    ``OperationDenied.FreqOverLimit`` are THROTTLED; ``InternalError*``,
    ``ServiceUnavailable``, ``ResourceUnavailable``, ``ResourceInsufficient*`` and
    ``AuthFailure.SignatureExpire`` (re-sign) are RETRYABLE; everything else, including the
    other ``AuthFailure.*`` codes and unknown codes, is REJECTED. A non-200 HTTP status is
    the caller's business (it is RETRYABLE).
    """
    if not code:
        return Outcome.OK
    if _family(code, _TRTC_THROTTLING) or code in _TRTC_THROTTLING_EXACT:
        return Outcome.THROTTLED
    if _family(code, _TRTC_RETRYABLE) or code in _TRTC_RETRYABLE_EXACT:
        return Outcome.RETRYABLE
    if code in TRTC_RESIGN_CODES:
        return Outcome.RETRYABLE
    return Outcome.REJECTED


_MAX_MESSAGE = 300
#: What is kept of a provider's text before anything else looks at it: a hostile answer can
#: carry megabytes, and only the first few hundred characters are ever shown.
MAX_PROVIDER_TEXT = 2048
# Alibaba echoes its string-to-sign (and sometimes the canonical request) in signature errors.
# Linear: the text is whitespace-collapsed first, so each ``\s?`` matches at most one blank.
_SIGNING_ECHO = re.compile(r"(?is)(server\s)?(string\s?to\s?sign|canonical\s?request).*$")


def sanitize(text: str, secrets: Iterable[str | None] = ()) -> str:
    """Make provider-supplied text safe to log and show, in time linear in its bound.

    Keeps at most :data:`MAX_PROVIDER_TEXT` characters, collapses whitespace, drops echoed
    strings-to-sign, masks secrets (``receiver.redaction``: given and registered secrets,
    URL parameters in any encoding, ``key=value`` pairs, credentials named in prose) and
    bounds the result to 300 characters.
    """
    text = " ".join(bounded(text, MAX_PROVIDER_TEXT, secrets).split())
    text = _SIGNING_ECHO.sub("[signing details removed]", text)
    text = mask_text(text, secrets)
    if len(text) > _MAX_MESSAGE:
        text = text[: _MAX_MESSAGE - 1] + "…"
    return text


class ProviderError(Exception):
    """A provider call that did not succeed, classified for the job runner.

    ``str()`` is one line a person can act on, e.g.
    ``aliyun CreateLivePullToPush rejected: InvalidParameter: Invalid DstUrl.``; the message
    is sanitized on construction so it never carries secrets or signatures.
    """

    provider: str
    api: str
    outcome: Outcome
    code: str
    message: str
    retry_after: float | None
    request_id: str | None
    http_status: int | None

    def __init__(
        self,
        provider: str,
        api: str,
        outcome: Outcome,
        code: str,
        message: str,
        *,
        retry_after: float | None = None,
        request_id: str | None = None,
        http_status: int | None = None,
    ) -> None:
        self.provider = provider
        self.api = api
        self.outcome = Outcome(outcome)
        self.code = sanitize(code) or "Unknown"
        self.message = sanitize(message)
        self.retry_after = retry_after
        self.request_id = request_id
        self.http_status = http_status
        super().__init__(str(self))

    def __str__(self) -> str:
        text = f"{self.provider} {self.api} {self.outcome}: {self.code}"
        if self.message:
            text += f": {self.message}"
        if self.request_id:
            text += f" (RequestId {self.request_id})"
        return text

    def __reduce__(self) -> tuple[Any, ...]:
        kwargs: _Details = {
            "retry_after": self.retry_after,
            "request_id": self.request_id,
            "http_status": self.http_status,
        }
        return (
            _rebuild_provider_error,
            (self.provider, self.api, self.outcome, self.code, self.message, kwargs),
        )


class _Details(TypedDict):
    """The keyword arguments of a ProviderError, as pickling carries them."""

    retry_after: float | None
    request_id: str | None
    http_status: int | None


def _rebuild_provider_error(
    provider: str, api: str, outcome: Outcome, code: str, message: str, kwargs: _Details
) -> ProviderError:
    return ProviderError(provider, api, outcome, code, message, **kwargs)
