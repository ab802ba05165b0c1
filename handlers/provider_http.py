"""What the signed provider clients share: one pooled ``httpx.AsyncClient``, the rate limit,
timeouts, metrics, error mapping and the single re-sign retry.

A subclass says how to read its provider's answers (:meth:`ProviderHttpClient._interpret`);
everything else about making a call lives here.
"""

from __future__ import annotations

import abc
import asyncio
import math
import time
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, ClassVar, Self, TypedDict, TypeVar, Unpack

import httpx
import msgspec
import structlog

from handlers.outcome import Outcome, ProviderError, sanitize
from handlers.ratelimit import RateLimiter, WindowRateLimiter
from receiver.http import BodyTooLarge, collect_limited
from receiver.metrics import provider_request_duration_seconds, provider_requests_total

__all__ = [
    "DEFAULT_DEADLINE",
    "DEFAULT_TIMEOUT",
    "MAX_ANSWER_BYTES",
    "HttpOptions",
    "ProviderHttpClient",
    "parse_retry_after",
    "read_json",
]

#: Every provider call is bounded: 5 s to connect, 10 s for each read/write/pool wait.
DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
#: Total seconds one HTTP exchange may take, from sending to the answer's last byte: the
#: per-read timeout alone never trips on a provider that trickles a byte every few seconds.
DEFAULT_DEADLINE = 30.0
#: Provider answers are small JSON documents; anything bigger is not one of them.
MAX_ANSWER_BYTES = 1024 * 1024
_USER_AGENT = "relaywarden/0.1"

log = structlog.get_logger("relaywarden.provider")

T = TypeVar("T")


class HttpOptions(TypedDict, total=False):
    """How a client talks HTTP, the same for every provider client (keyword arguments).

    ``limiter`` replaces the client's own ``qps`` window (to share one account's budget);
    ``timeout`` bounds each phase, ``deadline`` a whole exchange; ``transport`` is httpx's.
    """

    limiter: RateLimiter | None
    timeout: httpx.Timeout | float
    transport: httpx.AsyncBaseTransport | None
    deadline: float


def read_json(content: bytes, shape: type[T]) -> T | None:
    """``content`` decoded as ``shape`` (a Struct: a JSON object), or None when it is not."""
    try:
        return msgspec.json.decode(content, type=shape)
    except (msgspec.DecodeError, msgspec.ValidationError):
        return None


def parse_retry_after(value: str | None) -> float | None:
    """A retry-after header in seconds (non-negative number), or None when absent/unusable."""
    if value is None:
        return None
    try:
        seconds = float(value.strip())
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) and seconds >= 0 else None


class ProviderHttpClient(abc.ABC):
    """Base of the provider clients: rate-limited, timed, classified, signed HTTP calls.

    ``auth`` is None when credentials are missing: every call then fails at once with
    ``MissingCredentials`` (REJECTED) without touching the network.
    """

    provider: ClassVar[str]
    #: Error codes after which the request is signed again and re-sent once, immediately.
    resign_codes: ClassVar[frozenset[str]] = frozenset()
    #: What a call without credentials says to configure.
    missing_credentials: ClassVar[str]

    def __init__(
        self,
        endpoint: str,
        auth: httpx.Auth | None,
        *,
        qps: int,
        secrets: Iterable[str | None] = (),
        **options: Unpack[HttpOptions],
    ) -> None:
        deadline = options.get("deadline", DEFAULT_DEADLINE)
        if not deadline > 0:
            raise ValueError(f"deadline must be positive, got {deadline}")
        timeout = options.get("timeout", DEFAULT_TIMEOUT)
        self.endpoint = endpoint.rstrip("/")
        #: Seconds one HTTP exchange may take in total (sending to the last byte read).
        self.deadline = float(deadline)
        self.limiter = options.get("limiter") or WindowRateLimiter(qps)
        self._auth = auth
        self._timeout = timeout if isinstance(timeout, httpx.Timeout) else httpx.Timeout(timeout)
        self._secrets = tuple(s for s in secrets if s)
        self._http = httpx.AsyncClient(
            base_url=self.endpoint,
            timeout=self._timeout,
            transport=options.get("transport"),
            follow_redirects=False,
            headers={"User-Agent": _USER_AGENT},
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(endpoint={self.endpoint!r}, limiter={self.limiter!r})"

    @property
    def max_call_seconds(self) -> float:
        """The longest one logical call spends on the network: two exchanges (re-sign once).

        Waiting for a rate-limit slot comes on top; a job runner keeps its lease renewed
        while a call is in flight rather than relying on this alone.
        """
        return 2 * self.deadline

    @property
    def has_credentials(self) -> bool:
        """Whether calls can be made at all."""
        return self._auth is not None

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _build(
        self, method: str, *, headers: dict[str, str], content: bytes | None
    ) -> httpx.Request:
        return self._http.build_request(
            method, "/", headers=headers, content=content, timeout=self._timeout
        )

    @abc.abstractmethod
    def _interpret(
        self, api: str, response: httpx.Response, secrets: tuple[str, ...], answer: type[T]
    ) -> T:
        """Return the success answer decoded as ``answer``, or raise a classified
        :class:`ProviderError`."""

    def _decode(self, api: str, body: bytes, answer: type[T]) -> T:
        """A JSON success answer as ``answer``; one not of that shape is retryable, like any
        answer that is not the API's (a proxy's, a truncated one)."""
        try:
            return msgspec.json.decode(body, type=answer)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            message = f"the answer is not a {answer.__name__}: {str(exc)[:200]}"
            raise self._error(api, Outcome.RETRYABLE, "InvalidResponse", message) from None

    def _error(
        self, api: str, outcome: Outcome, code: str, message: str, **extra: Any
    ) -> ProviderError:
        return ProviderError(self.provider, api, outcome, code, message, **extra)

    async def _send(
        self,
        api: str,
        build: Callable[[], httpx.Request],
        answer: type[T],
        *,
        secrets: Iterable[str | None] = (),
        limiter: RateLimiter | None = None,
    ) -> T:
        """Make one logical call: rate limit, sign, send, classify, decode, record; re-sign
        once. The success answer comes back as ``answer`` (a Struct of its fields).

        ``limiter`` replaces the client's own for an operation with a budget of its own.
        """
        if self._auth is None:
            self._record(api, Outcome.REJECTED, None)
            raise self._error(api, Outcome.REJECTED, "MissingCredentials", self.missing_credentials)
        hidden = self._secrets + tuple(s for s in secrets if s)
        for attempt in (1, 2):
            outcome, elapsed = await self._attempt(
                api, build, answer, hidden, limiter or self.limiter
            )
            if not isinstance(outcome, ProviderError):
                self._record(api, Outcome.OK, elapsed)
                return outcome
            error = outcome
            if error.code in self.resign_codes:
                if attempt == 1:
                    self._record(api, error.outcome, elapsed, error)
                    continue
                error = self._error(
                    api,
                    Outcome.REJECTED,
                    error.code,
                    f"{error.message} (again after signing anew: check the system clock)",
                    request_id=error.request_id,
                    http_status=error.http_status,
                )
            self._record(api, error.outcome, elapsed, error)
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    async def _attempt(
        self,
        api: str,
        build: Callable[[], httpx.Request],
        answer: type[T],
        hidden: tuple[str, ...],
        limiter: RateLimiter,
    ) -> tuple[T | ProviderError, float]:
        """One signed request inside a rate-limit slot held until its answer is in."""
        async with limiter.call():
            started = time.perf_counter()
            try:
                async with asyncio.timeout(self.deadline):
                    response = await self._exchange(build)
            except (TimeoutError, httpx.HTTPError, BodyTooLarge) as exc:
                return self._exchange_error(api, exc, hidden), time.perf_counter() - started
        elapsed = time.perf_counter() - started
        try:
            return self._interpret(api, response, hidden, answer), elapsed
        except ProviderError as exc:
            return exc, elapsed

    async def _exchange(self, build: Callable[[], httpx.Request]) -> httpx.Response:
        """Send and read the whole answer, refusing one larger than ``MAX_ANSWER_BYTES``."""
        response = await self._http.send(build(), auth=self._auth, stream=True)
        try:
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > MAX_ANSWER_BYTES:
                raise BodyTooLarge
            content = await collect_limited(response.aiter_bytes(), MAX_ANSWER_BYTES)
        finally:
            await response.aclose()
        # The content is decoded already (and counted decoded: a compressed bomb stops too).
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-encoding", "content-length", "transfer-encoding")
        ]
        return httpx.Response(
            response.status_code,
            headers=headers,
            content=content,
            request=response.request,
        )

    def _exchange_error(self, api: str, exc: Exception, secrets: tuple[str, ...]) -> ProviderError:
        if isinstance(exc, TimeoutError):
            message = f"no complete answer within {self.deadline:g}s"
            return self._error(api, Outcome.RETRYABLE, "Deadline", message)
        if isinstance(exc, BodyTooLarge):
            message = f"the answer exceeds {MAX_ANSWER_BYTES} bytes: not a provider answer"
            return self._error(api, Outcome.RETRYABLE, "InvalidResponse", message)
        assert isinstance(exc, httpx.HTTPError)
        detail = sanitize(f"{type(exc).__name__}: {exc}", secrets)
        if isinstance(exc, httpx.TimeoutException):
            return self._error(api, Outcome.RETRYABLE, "Timeout", f"no answer in time ({detail})")
        if isinstance(exc, httpx.UnsupportedProtocol):
            return self._error(
                api, Outcome.REJECTED, "InvalidEndpoint", f"{self.endpoint}: {detail}"
            )
        if isinstance(exc, httpx.TransportError):
            return self._error(api, Outcome.RETRYABLE, "ConnectionError", detail)
        return self._error(api, Outcome.RETRYABLE, "InvalidResponse", detail)

    def _record(
        self,
        api: str,
        outcome: Outcome,
        elapsed: float | None,
        error: ProviderError | None = None,
    ) -> None:
        provider_requests_total.labels(self.provider, api, outcome.value).inc()
        if elapsed is not None:
            provider_request_duration_seconds.labels(self.provider, api).observe(elapsed)
        fields: dict[str, object] = {"provider": self.provider, "api": api, "result": outcome.value}
        if elapsed is not None:
            fields["duration_ms"] = round(elapsed * 1000, 1)
        if error is None:
            log.debug("provider_call", **fields)
            return
        fields.update(code=error.code, message=error.message, request_id=error.request_id)
        if outcome is Outcome.THROTTLED:
            log.info("provider_call", **fields)
        else:
            log.warning("provider_call", **fields)
