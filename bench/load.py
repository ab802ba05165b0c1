"""The load generator: wrk (installed on demand) driven by ``bench/callbacks.lua``.

Every request is a distinct 190-byte Alibaba pull-to-push callback (see the Lua script for
how task ids, EventTime and TaskStatus vary); :func:`callback_body` builds the same bodies in
Python so that their size and shape can be checked.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "BODY_BYTES",
    "WrkResult",
    "callback_body",
    "ensure_wrk",
    "run_wrk",
]

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "callbacks.lua"
BODY_BYTES = 190
TASK_FMT = "bench-task-%06d"
_BASE_TIME = 1_725_500_000  # EventTime of request 0, as in the Lua script
_SHAPE = (
    '{"Event":"LivePullToPushRunning","EventTime":"%d","TaskId":"%s",'
    '"TaskInfo":{"TaskId":"%s","DstUrl":"rtmp://push.example.com/live/{stream}"},'
    '"TaskStatus":%d}'
)


def _template() -> str:
    """The body format string, its stream name padded so that every body has BODY_BYTES."""
    bare = _SHAPE.replace("{stream}", "") % (_BASE_TIME, TASK_FMT % 0, TASK_FMT % 0, 1)
    padding = BODY_BYTES - len(bare)
    if padding < 1:
        raise ValueError("the callback shape is longer than BODY_BYTES")
    return _SHAPE.replace("{stream}", ("s" * padding))


TEMPLATE = _template()


_next = 0  # number of the next request: runs continue each other's numbering


def callback_body(k: int, tasks: int) -> bytes:
    """Request ``k``'s body, exactly as the Lua script builds it."""
    task = TASK_FMT % (k % tasks)
    return (TEMPLATE % (_BASE_TIME + k, task, task, (k // tasks) % 2 + 1)).encode()


def ensure_wrk() -> str:
    """The path of ``wrk``; installs the Debian package first when it is missing."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None:
        raise SystemExit("wrk is not installed and there is no apt-get to install it with")
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print("bench: installing wrk (apt-get install wrk)", flush=True)
    install = [*sudo, apt, "install", "-y", "-qq", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, check=False).returncode != 0:
        subprocess.run([*sudo, apt, "update", "-qq"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    found = shutil.which("wrk")
    if found is None:
        raise SystemExit("apt-get installed wrk but it is not on PATH")
    return found


@dataclass(frozen=True)
class WrkResult:
    """What one wrk run reported (latencies in seconds)."""

    requests: int
    duration: float
    errors: int  # connect, read, write errors and timeouts
    non_2xx: int
    p50: float
    p90: float
    p99: float
    max: float
    mean: float

    @property
    def rate(self) -> float:
        return self.requests / self.duration if self.duration else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "duration_s": round(self.duration, 3),
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(self.p50 * 1000, 3),
            "p90_ms": round(self.p90 * 1000, 3),
            "p99_ms": round(self.p99 * 1000, 3),
            "max_ms": round(self.max * 1000, 3),
            "mean_ms": round(self.mean * 1000, 3),
        }


def run_wrk(
    url: str,
    *,
    connections: int,
    duration: float,
    threads: int = 2,
    tasks: int = 256,
    delay_ms: int = 0,
    first: int | None = None,
) -> WrkResult:
    """Run wrk against ``url`` (scheme, host, port, path and query); parse its summary.

    ``first`` is the number of the run's first request; by default runs continue each other's
    numbering. Concurrent runs must each get their own (disjoint) ``first``, so that no two
    of their requests are the same event; such runs leave the default numbering alone.
    """
    global _next
    wrk = ensure_wrk()
    threads = max(1, min(threads, connections))
    scheme, _, rest = url.partition("://")
    host, slash, target = rest.partition("/")
    with tempfile.TemporaryDirectory(prefix="relaywarden-wrk-") as tmp:
        out = Path(tmp) / "summary.json"
        env = {
            **os.environ,
            "BENCH_PATH": slash + target,
            "BENCH_TEMPLATE": TEMPLATE,
            "BENCH_TASK_FMT": TASK_FMT,
            "BENCH_TASKS": str(tasks),
            "BENCH_FIRST": str(_next if first is None else first),
            "BENCH_DELAY_MS": str(delay_ms),
            "BENCH_THREADS": str(threads),
            "BENCH_OUT": str(out),
        }
        command = [
            wrk,
            f"-t{threads}",
            f"-c{connections}",
            f"-d{max(1, round(duration))}s",
            "--timeout",
            "10s",
            "-s",
            str(SCRIPT),
            f"{scheme}://{host}/",
        ]
        completed = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if completed.returncode != 0 or not out.exists():
            raise SystemExit(f"wrk failed ({completed.returncode}): {completed.stderr.strip()}")
        raw = json.loads(out.read_text())
    if first is None:
        _next = int(raw["next_k"])
    return WrkResult(
        requests=raw["requests"],
        duration=raw["duration_us"] / 1e6,
        errors=raw["connect_errors"] + raw["read_errors"] + raw["write_errors"] + raw["timeouts"],
        non_2xx=raw["status_errors"],
        p50=raw["p50_us"] / 1e6,
        p90=raw["p90_us"] / 1e6,
        p99=raw["p99_us"] / 1e6,
        max=raw["max_us"] / 1e6,
        mean=raw["mean_us"] / 1e6,
    )
