"""A small HTTP/1.1 keep-alive load generator on raw asyncio streams.

``N`` connections each send one request at a time (closed loop) for a fixed duration after
a warm-up; every request gets a fresh body from ``make_body(n)`` so that no two are alike.
Latency is measured per request from the first byte written to the last byte read.
"""

from __future__ import annotations

import asyncio
import itertools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["Result", "run_load"]


@dataclass
class Result:
    """What one load run measured (only requests finished inside the measured window)."""

    duration: float
    latencies: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)
    bodies: dict[bytes, int] = field(default_factory=dict)
    errors: int = 0

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rate(self) -> float:
        return self.requests / self.duration

    def percentile(self, fraction: float) -> float:
        """Nearest-rank percentile of the latencies, in seconds."""
        ordered = sorted(self.latencies)
        if not ordered:
            return float("nan")
        rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
        return ordered[rank - 1]


async def _read_response(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(":")
        if name.strip().lower() == "content-length":
            length = int(value)
    body = await reader.readexactly(length) if length else b""
    return status, body


async def _connection(
    host: str,
    port: int,
    target: str,
    make_body: Callable[[int], bytes],
    counter: itertools.count[int],
    measure_from: float,
    stop_at: float,
    result: Result,
) -> None:
    reader, writer = await asyncio.open_connection(host, port)
    prefix = (
        f"POST {target} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        "Content-Type: application/json\r\nContent-Length: "
    ).encode()
    try:
        while time.perf_counter() < stop_at:
            body = make_body(next(counter))
            request = prefix + str(len(body)).encode() + b"\r\n\r\n" + body
            started = time.perf_counter()
            try:
                writer.write(request)
                status, answer = await _read_response(reader)
            except (OSError, asyncio.IncompleteReadError, ValueError):
                result.errors += 1
                return
            finished = time.perf_counter()
            if started >= measure_from and finished <= stop_at:
                result.latencies.append(finished - started)
                result.statuses[status] = result.statuses.get(status, 0) + 1
                result.bodies[answer] = result.bodies.get(answer, 0) + 1
    finally:
        writer.close()


async def _run(
    host: str,
    port: int,
    target: str,
    make_body: Callable[[int], bytes],
    connections: int,
    warmup: float,
    duration: float,
) -> Result:
    counter = itertools.count()
    now = time.perf_counter()
    measure_from = now + warmup
    stop_at = measure_from + duration
    result = Result(duration=duration)
    await asyncio.gather(
        *(
            _connection(host, port, target, make_body, counter, measure_from, stop_at, result)
            for _ in range(connections)
        )
    )
    return result


def run_load(
    host: str,
    port: int,
    target: str,
    make_body: Callable[[int], bytes],
    *,
    connections: int,
    warmup: float,
    duration: float,
) -> Result:
    """Run the load with uvloop when available (as uvicorn does), else asyncio's loop."""
    coroutine = _run(host, port, target, make_body, connections, warmup, duration)
    try:
        import uvloop
    except ImportError:
        return asyncio.run(coroutine)
    return uvloop.run(coroutine)
