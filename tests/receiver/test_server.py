"""The guarded protocol's read deadline on a real keep-alive connection (127.0.0.1)."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest

from receiver.server import ConnectionLimits, guarded_protocol
from tests.support.servers import serve_in_thread

TIMEOUT = 1.0


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    await send(
        {"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"2")]}
    )
    await send({"type": "http.response.body", "body": b"ok"})


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    protocol = guarded_protocol(ConnectionLimits(max_connections=10, header_timeout=TIMEOUT))
    # uvicorn's own keep-alive timeout (5 s by default) stays out of the way.
    with serve_in_thread(_app, http=protocol, timeout_keep_alive=30) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _ask(sock: socket.socket) -> None:
    sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
    data = b""
    while not data.endswith(b"ok"):
        chunk = sock.recv(65536)
        assert chunk, "closed before the answer"
        data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK")


def _closed_within(sock: socket.socket, seconds: float) -> bool:
    sock.settimeout(seconds)
    try:
        return sock.recv(1) == b""
    except TimeoutError:
        return False


def test_an_idle_connection_is_closed_a_deadline_after_its_latest_answer(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        _ask(sock)
        time.sleep(TIMEOUT * 0.6)
        _ask(sock)  # moves the deadline: TIMEOUT after this answer, not after the first
        answered = time.monotonic()
        # Still open past the first answer's deadline ...
        assert not _closed_within(sock, TIMEOUT * 0.7)
        # ... and closed once the latest answer's has passed.
        assert _closed_within(sock, TIMEOUT * 3)
        assert time.monotonic() - answered >= TIMEOUT * 0.95


def test_a_request_head_that_stops_is_answered_408_after_the_deadline(
    address: tuple[str, int],
) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        _ask(sock)
        sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\n")  # and nothing more
        started = time.monotonic()
        sock.settimeout(TIMEOUT * 5)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
        assert data.startswith(b"HTTP/1.1 408 ")
        assert time.monotonic() - started >= TIMEOUT * 0.95
