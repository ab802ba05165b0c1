"""Benchmark: POST /callbacks/aliyun/pull-to-push on `relaywarden serve` vs a bare endpoint.

Both servers run as separate processes under uvicorn with the same settings on this machine;
the same load generator (``bench/loadgen.py``: N keep-alive HTTP/1.1 connections, closed
loop, fixed duration after a warm-up) drives one run against each. relaywarden runs in full
(``relaywarden serve``: rules, job runner, JSON logs) on a SQLite file in a temporary
directory, so each accepted callback is an fsynced commit (WAL, synchronous=FULL) shared by
the group commit. Every request carries a distinct EventTime, so none is a duplicate.

    .venv/bin/python bench/callbacks.py [--connections 32] [--duration 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from loadgen import Result, run_load

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token-0123456789abcdef"
PATH = "/callbacks/aliyun/pull-to-push"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(base: str, process: subprocess.Popen[bytes], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"server exited with {process.returncode}")
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code in (200, 404):
                return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"server at {base} did not start")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def callback_body(n: int) -> bytes:
    """Distinct events: 32 tasks alternating running/recovering, EventTime always new."""
    task_id = f"bench-{n % 32:02d}"
    body = {
        "Event": "LivePullToPushRunning",
        "EventTime": str(1_725_500_000 + n),
        "TaskId": task_id,
        "TaskInfo": {"TaskId": task_id, "DstUrl": f"rtmp://push.example.com/app/{task_id}"},
        "TaskStatus": str(1 + (n // 32) % 2),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def bench(
    command: list[str],
    env: dict[str, str],
    port: int,
    target: str,
    make_body: Callable[[int], bytes],
    args: argparse.Namespace,
    log: Path,
) -> Result:
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_ready(f"http://127.0.0.1:{port}", process)
        return run_load(
            "127.0.0.1",
            port,
            target,
            make_body,
            connections=args.connections,
            warmup=args.warmup,
            duration=args.duration,
        )
    finally:
        stop(process)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    args = parser.parse_args()

    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    results: dict[str, Result] = {}
    with tempfile.TemporaryDirectory(prefix="relaywarden-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        port = free_port()
        env = {
            **base_env,
            "RELAYWARDEN_PORT": str(port),
            "RELAYWARDEN_DATABASE_URL": f"sqlite:///{db}",
            "RELAYWARDEN_CALLBACK_TOKEN": TOKEN,
            # Jobs of adopted tasks must not leave the machine.
            "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": "http://127.0.0.1:9",
            "RELAYWARDEN_TRTC_ENDPOINT": "http://127.0.0.1:9",
        }
        results["relaywarden serve"] = bench(
            [sys.executable, "-m", "receiver.cli", "serve"],
            env,
            port,
            f"{PATH}?token={TOKEN}",
            callback_body,
            args,
            Path(tmp) / "relaywarden.log",
        )
        conn = sqlite3.connect(db)
        stored = conn.execute("SELECT COUNT(*) FROM events").fetchone()[0]
        conn.close()

        port = free_port()
        results["bare Starlette"] = bench(
            [sys.executable, str(HERE / "bare_app.py"), "--port", str(port)],
            base_env,
            port,
            PATH,
            callback_body,
            args,
            Path(tmp) / "bare.log",
        )

    print(
        f"{args.connections} connections, {args.warmup:g} s warm-up + {args.duration:g} s "
        f"measured per target; {os.cpu_count()} CPUs, {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    header = f"{'target':<20} {'requests':>9} {'non-200':>8} {'errors':>7} {'req/s':>9} "
    header += f"{'p50 ms':>8} {'p99 ms':>8}"
    print(header)
    print("-" * len(header))
    for name, result in results.items():
        non_200 = result.requests - result.statuses.get(200, 0)
        print(
            f"{name:<20} {result.requests:>9} {non_200:>8} {result.errors:>7} "
            f"{result.rate:>9.0f} {result.percentile(0.50) * 1000:>8.2f} "
            f"{result.percentile(0.99) * 1000:>8.2f}"
        )
    rw, bare = results["relaywarden serve"], results["bare Starlette"]
    print(f"relaywarden / bare throughput: {rw.rate / bare.rate:.0%}")
    duplicates = rw.bodies.get(b'{"status":"duplicate"}', 0)
    print(f"relaywarden: {duplicates} duplicates; {stored} events stored in SQLite (incl. warm-up)")
    if rw.errors or bare.errors or duplicates or rw.statuses.keys() != {200}:
        raise SystemExit("the benchmark saw errors: the figures are not valid")


if __name__ == "__main__":
    main()
