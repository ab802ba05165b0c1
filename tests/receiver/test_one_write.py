"""One write per response: the cycle's writes counted on a recording transport, and the
guarded protocol answering real requests (keep-alive, HEAD, streaming, close) on 127.0.0.1."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterator
from typing import Any

import pytest
from uvicorn.protocols.http.flow_control import FlowControl
from uvicorn.protocols.http.httptools_impl import RequestResponseCycle

from receiver.one_write import OneWriteCycle, use_one_write
from receiver.server import ConnectionLimits, guarded_protocol
from tests.support.servers import serve_in_thread

pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


class RecordingTransport:
    """What uvicorn's cycle calls on a transport, with every write kept."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "write after close"
        self.writes.append(data)

    def close(self) -> None:
        self.closed = True

    def is_closing(self) -> bool:
        return self.closed

    def pause_reading(self) -> None:
        pass

    def resume_reading(self) -> None:
        pass


def cycle(transport: RecordingTransport, *, method: str = "POST", keep_alive: bool = True) -> Any:
    made = RequestResponseCycle(
        scope={"type": "http", "method": method, "path": "/", "headers": []},  # type: ignore[typeddict-item]
        transport=transport,  # type: ignore[arg-type]
        flow=FlowControl(transport),  # type: ignore[arg-type]
        logger=logging.getLogger("test"),
        access_logger=logging.getLogger("test.access"),
        access_log=False,
        default_headers=[],
        message_event=asyncio.Event(),
        expect_100_continue=False,
        keep_alive=keep_alive,
        on_response=lambda: None,
    )
    use_one_write(made)
    assert type(made) is OneWriteCycle
    return made


def start(length: int | None) -> dict[str, Any]:
    headers = [(b"content-type", b"application/json")]
    if length is not None:
        headers.append((b"content-length", str(length).encode()))
    return {"type": "http.response.start", "status": 200, "headers": headers}


async def test_head_and_body_go_out_in_one_write() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(4))
    assert transport.writes == []  # held until the body comes
    await answer.send({"type": "http.response.body", "body": b"{ok}"})
    assert len(transport.writes) == 1
    head, _, body = transport.writes[0].partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK\r\n")
    assert b"content-length: 4" in head
    assert body == b"{ok}"
    assert answer.response_complete and not transport.closed


async def test_a_streamed_body_writes_the_head_with_its_first_part_only() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    await answer.send(start(None))  # no length: uvicorn frames the body as chunked
    await answer.send({"type": "http.response.body", "body": b"ab", "more_body": True})
    await answer.send({"type": "http.response.body", "body": b"cd", "more_body": True})
    await answer.send({"type": "http.response.body", "body": b""})
    assert len(transport.writes) == 3
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n2\r\nab\r\n")
    assert transport.writes[1:] == [b"2\r\ncd\r\n", b"0\r\n\r\n"]


async def test_a_head_request_still_gets_its_head_and_a_closing_answer_closes_after() -> None:
    transport = RecordingTransport()
    answer = cycle(transport, method="HEAD")
    await answer.send(start(4))
    await answer.send({"type": "http.response.body", "body": b""})
    assert len(transport.writes) == 1
    assert transport.writes[0].startswith(b"HTTP/1.1 200 OK\r\n")
    assert transport.writes[0].endswith(b"\r\n\r\n")

    closing = RecordingTransport()
    answer = cycle(closing, keep_alive=False)
    await answer.send(start(2))
    await answer.send({"type": "http.response.body", "body": b"ok"})
    assert len(closing.writes) == 1 and closing.writes[0].endswith(b"\r\n\r\nok")
    assert b"connection: close" in closing.writes[0]
    assert closing.closed


async def test_a_wrong_first_message_is_still_refused_by_uvicorn() -> None:
    transport = RecordingTransport()
    answer = cycle(transport)
    with pytest.raises(RuntimeError, match=r"Expected ASGI message 'http\.response\.start'"):
        await answer.send({"type": "http.response.body", "body": b"x"})
    assert transport.writes == []


async def _app(scope: Any, receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    while (await receive()).get("more_body"):
        pass
    if scope["path"] == "/stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for part in (b"one,", b"two"):
            await send({"type": "http.response.body", "body": part, "more_body": True})
        await send({"type": "http.response.body", "body": b""})
        return
    body = b'{"status":"accepted"}'
    headers = [(b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@pytest.fixture
def address() -> Iterator[tuple[str, int]]:
    protocol = guarded_protocol(ConnectionLimits(max_connections=10))
    with serve_in_thread(_app, http=protocol) as base:
        host, port = base.removeprefix("http://").split(":")
        yield host, int(port)


def _read_answer(sock: socket.socket, *, head_only: bool = False) -> tuple[bytes, bytes]:
    data = b""
    while b"\r\n\r\n" not in data:
        data += sock.recv(65536)
    head, _, body = data.partition(b"\r\n\r\n")
    if head_only:
        return head, body
    if b"transfer-encoding: chunked" in head:
        while not body.endswith(b"0\r\n\r\n"):
            body += sock.recv(65536)
        return head, body
    length = int(head.split(b"content-length: ")[1].split(b"\r\n")[0])
    while len(body) < length:
        body += sock.recv(65536)
    return head, body


def test_real_connections_get_whole_answers(address: tuple[str, int]) -> None:
    with socket.create_connection(address, timeout=10) as sock:
        # Three requests on one keep-alive connection: POST, HEAD, a streamed GET.
        sock.sendall(b"POST /cb HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\n{}")
        head, body = _read_answer(sock)
        assert head.startswith(b"HTTP/1.1 200 OK") and body == b'{"status":"accepted"}'
        sock.sendall(b"HEAD /cb HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_answer(sock, head_only=True)
        assert head.startswith(b"HTTP/1.1 200 OK") and body == b""
        sock.sendall(b"GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
        head, body = _read_answer(sock)
        assert b"transfer-encoding: chunked" in head
        assert body == b"4\r\none,\r\n3\r\ntwo\r\n0\r\n\r\n"
    with socket.create_connection(address, timeout=10) as sock:
        sock.sendall(b"GET /cb HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):  # the server closes after the answer
            data += chunk
        assert data.startswith(b"HTTP/1.1 200 OK") and data.endswith(b'{"status":"accepted"}')
