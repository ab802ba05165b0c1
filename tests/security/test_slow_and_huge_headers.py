"""Hostile clients against a real ``relaywarden serve`` process on 127.0.0.1.

Half-open connections, slowloris and a huge header must neither take every file
descriptor nor grow memory, and valid callbacks must keep getting their 200 meanwhile.
"""

from __future__ import annotations

import json
import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    Process,
    aliyun_status,
    dumps,
    start_serve,
)

MAX_CONNECTIONS = 40
HEADER_TIMEOUT = 1.0
MAX_HEADER_BYTES = 16 * 1024
#: Refused connections the server drains at once before closing (receiver.server).
LINGERING = 16
PATIENT_TIMEOUT = 4.0
LIMITS = {
    "RELAYWARDEN_MAX_CONNECTIONS": str(MAX_CONNECTIONS),
    "RELAYWARDEN_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    "RELAYWARDEN_MAX_HEADER_BYTES": str(MAX_HEADER_BYTES),
    "RELAYWARDEN_TRTC_CALLBACK_KEY": "trtc-key-for-the-busy-test",
    # Keep the job runner off the network: nothing listens on port 9.
    "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": "http://127.0.0.1:9",
    "RELAYWARDEN_TRTC_ENDPOINT": "http://127.0.0.1:9",
}
PARTIAL_HEAD = f"POST {ALIYUN_PATH}?token={CALLBACK_TOKEN} HTTP/1.1\r\nHost: x\r\n".encode()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Process]:
    process = start_serve(tmp_path, tmp_path / "x.db", env=LIMITS)
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def patient_server(tmp_path: Path) -> Iterator[Process]:
    """The same limits but a deadline long enough to fill every slot on a busy machine."""
    limits = {**LIMITS, "RELAYWARDEN_HEADER_TIMEOUT_SECONDS": str(PATIENT_TIMEOUT)}
    process = start_serve(tmp_path, tmp_path / "x.db", env=limits)
    try:
        yield process
    finally:
        process.stop()


def _address(process: Process) -> tuple[str, int]:
    port = int(process.base.rsplit(":", 1)[1])
    return "127.0.0.1", port


def _open_fds(process: Process) -> int:
    return len(os.listdir(f"/proc/{process.popen.pid}/fd"))


def _memory_kib(process: Process, field: str) -> int:
    for line in Path(f"/proc/{process.popen.pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"{field} not in /proc status")


def _valid_callback(client: httpx.Client, task: str, n: int) -> int:
    body = dumps(aliyun_status(task, 1, 1725501000 + n))
    return client.post(ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=body).status_code


def _closed_by_server(sock: socket.socket, within: float) -> tuple[bool, bytes]:
    """Whether the server closed ``sock`` within ``within`` seconds; and what it said."""
    sock.settimeout(within)
    received = b""
    try:
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return True, received
            received += chunk
    except TimeoutError:
        return False, received
    except ConnectionResetError:
        return True, received


def test_half_open_flood_keeps_callbacks_served_and_descriptors_bounded(server: Process) -> None:
    baseline = _open_fds(server)
    flood: list[socket.socket] = []
    try:
        with httpx.Client(base_url=server.base, timeout=5) as client:
            statuses = []
            for n in range(300):
                sock = socket.create_connection(_address(server))
                sock.sendall(PARTIAL_HEAD)
                flood.append(sock)
                if n % 15 == 0:  # a provider's callback in the middle of the flood
                    statuses.append(_valid_callback(client, "flood-task", n))
            time.sleep(0.2)
            # The server holds at most its bound, plus refused ones draining (and our client).
            assert _open_fds(server) <= baseline + MAX_CONNECTIONS + LINGERING + 2
            statuses += [_valid_callback(client, "flood-task", 1000 + n) for n in range(20)]
            assert statuses == [200] * 40
        # Every half-open connection is closed by the server: evicted, or at its deadline.
        deadline = time.monotonic() + HEADER_TIMEOUT + 3
        for sock in flood:
            closed, said = _closed_by_server(sock, max(0.05, deadline - time.monotonic()))
            assert closed, "a half-open connection outlived the header deadline"
            if said:
                status = said.split(b" ", 2)[1]
                assert status in (b"408", b"503"), said
                assert json.loads(said.split(b"\r\n\r\n", 1)[1])["error"]["code"]
    finally:
        for sock in flood:
            sock.close()


def test_slowloris_gets_408_at_the_header_deadline_while_callbacks_pass(server: Process) -> None:
    sock = socket.create_connection(_address(server))
    started = time.monotonic()
    answer = b""
    with httpx.Client(base_url=server.base, timeout=5) as client:
        try:
            for n, byte in enumerate(PARTIAL_HEAD + b"X-Slow: " + b"a" * 200):
                sock.sendall(bytes([byte]))
                if n % 10 == 0:
                    assert _valid_callback(client, "slow-task", n) == 200
                time.sleep(0.05)
                if time.monotonic() - started > HEADER_TIMEOUT + 3:
                    break
        except (BrokenPipeError, ConnectionResetError):
            pass
        closed, answer = _closed_by_server(sock, 2)
    sock.close()
    elapsed = time.monotonic() - started
    assert closed
    assert elapsed < HEADER_TIMEOUT + 3
    assert answer.startswith(b"HTTP/1.1 408 "), answer
    body = json.loads(answer.split(b"\r\n\r\n", 1)[1])
    assert body["error"]["code"] == "request_timeout"


def test_huge_header_is_refused_with_431_and_memory_stays_bounded(server: Process) -> None:
    rss_before = _memory_kib(server, "VmRSS")
    sock = socket.create_connection(_address(server))
    sent = 0
    line = b"X-Huge: " + b"a" * (64 * 1024 - 10) + b"\r\n"
    try:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        while sent < 256 * 1024 * 1024:
            sock.sendall(line)
            sent += len(line)
    except (BrokenPipeError, ConnectionResetError):
        pass
    closed, answer = _closed_by_server(sock, 5)
    sock.close()
    assert closed
    assert sent < 256 * 1024 * 1024, "the server read a 256 MiB header"
    if answer:  # the answer may be lost to the reset of a still-sending client
        assert answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    peak_growth = _memory_kib(server, "VmHWM") - rss_before
    assert peak_growth < 48 * 1024, f"memory grew by {peak_growth} KiB"
    with httpx.Client(base_url=server.base, timeout=5) as client:
        assert _valid_callback(client, "huge-task", 1) == 200
    sock = socket.create_connection(_address(server))
    sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (MAX_HEADER_BYTES * 2))
    closed, answer = _closed_by_server(sock, 5)
    sock.close()
    assert closed and answer.startswith(b"HTTP/1.1 431 "), answer[:200]
    assert json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]["code"] == "headers_too_large"


def test_connections_beyond_the_bound_get_a_clear_503_when_all_are_busy(
    patient_server: Process,
) -> None:
    busy: list[socket.socket] = []
    # The TRTC route reads the body before it can check the signature: a head with a body
    # that never comes keeps a connection busy, beyond the reach of eviction.
    head = (
        b"POST /callbacks/trtc HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n"
    )
    try:
        started = time.monotonic()
        for _ in range(MAX_CONNECTIONS):
            sock = socket.create_connection(_address(patient_server))
            sock.sendall(head)
            busy.append(sock)
        time.sleep(0.1)
        extra = socket.create_connection(_address(patient_server))
        closed, answer = _closed_by_server(extra, 5)
        extra.close()
        assert time.monotonic() - started < PATIENT_TIMEOUT, "too slow to test the bound"
        assert closed
        assert answer.startswith(b"HTTP/1.1 503 "), answer
        assert b"retry-after: 1" in answer.lower()
        error = json.loads(answer.split(b"\r\n\r\n", 1)[1])["error"]
        assert error["code"] == "busy" and str(MAX_CONNECTIONS) in error["message"]
        # The body deadline frees them: 408 to each, and callbacks are served again.
        for sock in busy:
            closed, answer = _closed_by_server(sock, PATIENT_TIMEOUT + 3)
            assert closed and answer.startswith(b"HTTP/1.1 408 "), answer
    finally:
        for sock in busy:
            sock.close()
    with httpx.Client(base_url=patient_server.base, timeout=5) as client:
        assert _valid_callback(client, "busy-task", 1) == 200
    metrics = httpx.get(f"{patient_server.base}/metrics").text
    assert 'relaywarden_connections_refused_total{reason="limit"} 1.0' in metrics
    assert (
        f'relaywarden_connections_refused_total{{reason="body_timeout"}} {MAX_CONNECTIONS}.0'
        in (metrics)
    )


def test_a_body_answered_unread_is_not_taken_for_a_huge_header(server: Process) -> None:
    """A 413 sent before a 2 MiB body was read leaves the keep-alive connection usable."""
    with httpx.Client(base_url=server.base, timeout=10) as client:
        big = b"{" + b" " * (2 * 1024 * 1024) + b"}"
        params = {"token": CALLBACK_TOKEN}
        assert client.post(ALIYUN_PATH, params=params, content=big).status_code == 413
        assert _valid_callback(client, "after-413", 1) == 200
        assert client.post(ALIYUN_PATH, params={"token": "x"}, content=big).status_code == 401
        assert _valid_callback(client, "after-401", 2) == 200
    refused = [
        line
        for line in httpx.get(f"{server.base}/metrics").text.splitlines()
        if line.startswith("relaywarden_connections_refused_total{")
    ]
    assert refused and all(line.endswith(" 0.0") for line in refused), refused
