"""The CLI's client of a running relaywarden's HTTP API (``RELAYWARDEN_API_URL``)."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from typing import Any

import httpx

__all__ = ["ApiClient", "CommandError", "default_api_url"]

#: The largest page the API serves; lists follow ``next_cursor`` from page to page.
PAGE_SIZE = 500


class CommandError(Exception):
    """A command could not be carried out (API unreachable, request refused, bad usage);
    the message says what to do."""


def default_api_url(env: Mapping[str, str] | None = None) -> str:
    """``RELAYWARDEN_API_URL``, else the address ``relaywarden serve`` listens on locally."""
    env = os.environ if env is None else env
    explicit = env.get("RELAYWARDEN_API_URL")
    if explicit:
        return explicit.rstrip("/")
    host = env.get("RELAYWARDEN_HOST") or "127.0.0.1"
    if host in ("0.0.0.0", "::", "[::]"):  # listening everywhere: reach it on loopback
        host = "127.0.0.1"
    if ":" in host and not host.startswith("["):
        host = f"[{host}]"
    port = env.get("RELAYWARDEN_PORT") or "8080"
    return f"http://{host}:{port}"


class ApiClient:
    """Calls the API with the admin token as bearer; every failure becomes an CommandError."""

    def __init__(self, base_url: str, admin_token: str | None, *, timeout: float = 10.0) -> None:
        headers = {"Authorization": f"Bearer {admin_token}"} if admin_token else {}
        self.base_url = base_url
        self._http = httpx.Client(base_url=base_url, headers=headers, timeout=timeout)

    def close(self) -> None:
        """Release the connection pool."""
        self._http.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
    ) -> httpx.Response:
        """One request; raises CommandError when the server cannot be reached."""
        try:
            return self._http.request(method, path, params=params, json=json)
        except httpx.TimeoutException:
            raise CommandError(
                f"relaywarden at {self.base_url} did not answer {method} {path} in time"
            ) from None
        except httpx.TransportError as exc:
            raise CommandError(
                f"cannot reach relaywarden at {self.base_url} ({exc}); is `relaywarden serve` "
                "running? Set RELAYWARDEN_API_URL to its address."
            ) from None

    def call(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        json: Any = None,
        accept: tuple[int, ...] = (),
    ) -> Any:
        """The JSON body of a 2xx answer (or of a status in ``accept``); else CommandError."""
        response = self.send(method, path, params=params, json=json)
        if response.is_success or response.status_code in accept:
            return _json(response)
        raise CommandError(describe_error(response))

    def pages(
        self, path: str, params: Mapping[str, str] | None = None, *, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        """The items of a paginated list, following ``next_cursor`` (at most ``limit``)."""
        query = {**(params or {}), "limit": str(PAGE_SIZE)}
        yielded = 0
        while True:
            body = self.call("GET", path, params=query)
            for item in body["items"]:
                if limit is not None and yielded >= limit:
                    return
                yielded += 1
                yield item
            cursor = body.get("next_cursor")
            if not cursor:
                return
            query["cursor"] = str(cursor)

    def retry_all(
        self, path: str, params: Mapping[str, str] | None = None, *, batch: int = 500
    ) -> list[dict[str, Any]]:
        """POST a bulk retry (``{"retried": [...]}``, at most ``batch`` a call) until done.

        A short batch means nothing dead was left; never "until none is dead": an item
        that dies again at once would keep the loop going.
        """
        retried: list[dict[str, Any]] = []
        while True:
            found: list[dict[str, Any]] = self.call("POST", path, params=dict(params or {}))[
                "retried"
            ]
            retried += found
            if len(found) < batch:
                return retried


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError:
        raise CommandError(
            f"{response.request.method} {response.request.url.path} answered "
            f"{response.status_code} with a body that is not JSON; is RELAYWARDEN_API_URL "
            "the address of relaywarden?"
        ) from None


def describe_error(response: httpx.Response) -> str:
    """A one-line explanation of an error answer, with what to do about a 401."""
    where = f"{response.request.method} {response.request.url.path}"
    if response.status_code == 401:
        return (
            f"{where}: the API refused the admin token; set RELAYWARDEN_ADMIN_TOKEN to the "
            "server's RELAYWARDEN_ADMIN_TOKEN"
        )
    try:
        error = response.json()["error"]
        return f"{where}: {response.status_code} {error['code']}: {error['message']}"
    except (ValueError, KeyError, TypeError):
        return f"{where}: HTTP {response.status_code}"
