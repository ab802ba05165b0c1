"""Benchmark: callback throughput and p99 on SQLite (one process) and PostgreSQL (one and two
replicas), under the same load.

Every run is real ``relaywarden serve`` processes (rules, job runner, JSON logs) driven by the
same load generator (``bench/loadgen.py``: N keep-alive connections in total, closed loop,
fixed duration after a warm-up). With two replicas the connections are split evenly between
them, in one event loop, as a load balancer would. SQLite commits with synchronous=FULL;
PostgreSQL runs a fresh cluster (``initdb`` in a temporary directory, default durability:
fsync and synchronous_commit on) on this machine. Every request carries a distinct event,
so none is a duplicate, and the events stored are counted afterwards.

    .venv/bin/python bench/replicas_pg.py [--connections 32] [--duration 10] [--warmup 2]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

from callbacks import PATH, TOKEN, callback_body, free_port, stop, wait_ready
from loadgen import Result, _run

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.support.database import db_query  # noqa: E402
from tests.support.postgres import PostgresServer, find_pg_bin  # noqa: E402


def _split_bodies(replica: int, replicas: int) -> Callable[[int], bytes]:
    """Bodies for one replica's share: no two replicas ever send the same event."""
    return lambda n: callback_body(n * replicas + replica)


async def _load(ports: Sequence[int], args: argparse.Namespace) -> Result:
    target = f"{PATH}?token={TOKEN}"
    share = args.connections // len(ports)
    parts = await asyncio.gather(
        *(
            _run(
                "127.0.0.1",
                port,
                target,
                _split_bodies(i, len(ports)),
                share,
                args.warmup,
                args.duration,
            )
            for i, port in enumerate(ports)
        )
    )
    merged = Result(duration=args.duration)
    for part in parts:
        merged.latencies.extend(part.latencies)
        merged.errors += part.errors
        for status, count in part.statuses.items():
            merged.statuses[status] = merged.statuses.get(status, 0) + count
        for body, count in part.bodies.items():
            merged.bodies[body] = merged.bodies.get(body, 0) + count
    return merged


def run(
    database_url: str, replicas: int, args: argparse.Namespace, logs: Path
) -> tuple[Result, int]:
    """Start ``replicas`` serve processes on ``database_url``, load them, count stored events."""
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    processes: list[subprocess.Popen[bytes]] = []
    ports: list[int] = []
    try:
        for n in range(replicas):
            port = free_port()
            env = {
                **base_env,
                "RELAYWARDEN_PORT": str(port),
                "RELAYWARDEN_DATABASE_URL": database_url,
                "RELAYWARDEN_CALLBACK_TOKEN": TOKEN,
                # Jobs of adopted tasks must not leave the machine.
                "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": "http://127.0.0.1:9",
                "RELAYWARDEN_TRTC_ENDPOINT": "http://127.0.0.1:9",
                # The load adopts every task id it uses: measure that, not the bounds.
                "RELAYWARDEN_ADOPT_MAX_RELAYS": "10000000",
                "RELAYWARDEN_ADOPT_PER_MINUTE": "10000000",
            }
            with (logs / f"serve-{replicas}-{n}.log").open("wb") as out:
                process = subprocess.Popen(
                    [sys.executable, "-m", "receiver.cli", "serve"],
                    env=env,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    cwd=ROOT,
                )
            processes.append(process)
            ports.append(port)
            wait_ready(f"http://127.0.0.1:{port}", process)
        result = asyncio.run(_load(ports, args))
    finally:
        for process in processes:
            stop(process)
    stored = int(db_query(database_url, "SELECT COUNT(*) AS n FROM events")[0]["n"])
    return result, stored


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--duration", type=float, default=10.0, help="measured seconds per run")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds first")
    args = parser.parse_args()
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt install postgresql")

    results: dict[str, tuple[Result, int]] = {}
    with tempfile.TemporaryDirectory(prefix="relaywarden-bench-pg-") as tmp:
        root = Path(tmp)
        results["SQLite, 1 process"] = run(f"sqlite:///{root / 'bench.db'}", 1, args, root)
        server = PostgresServer(bin_dir, root / "pg")
        server.root.mkdir()
        os.chmod(root, 0o755)
        server.start()
        try:
            results["PostgreSQL, 1 replica"] = run(server.new_database(), 1, args, root)
            results["PostgreSQL, 2 replicas"] = run(server.new_database(), 2, args, root)
        finally:
            server.stop()

    print(
        f"{args.connections} connections in total, {args.warmup:g} s warm-up + "
        f"{args.duration:g} s measured per run; {os.cpu_count()} CPUs (load generator, "
        f"servers and database share them), {platform.python_implementation()} "
        f"{platform.python_version()}, {platform.system()} {platform.machine()}"
    )
    header = f"{'store':<24} {'requests':>9} {'non-200':>8} {'errors':>7} {'req/s':>8} "
    header += f"{'p50 ms':>8} {'p99 ms':>8} {'stored':>8}"
    print(header)
    print("-" * len(header))
    invalid = False
    for name, (result, stored) in results.items():
        non_200 = result.requests - result.statuses.get(200, 0)
        duplicates = result.bodies.get(b'{"status":"duplicate"}', 0)
        invalid = invalid or bool(result.errors or non_200 or duplicates)
        print(
            f"{name:<24} {result.requests:>9} {non_200:>8} {result.errors:>7} "
            f"{result.rate:>8.0f} {result.percentile(0.50) * 1000:>8.2f} "
            f"{result.percentile(0.99) * 1000:>8.2f} {stored:>8}"
        )
    print("stored: events in the database after the run (warm-up included)")
    if invalid:
        raise SystemExit("the benchmark saw errors or duplicates: the figures are not valid")


if __name__ == "__main__":
    main()
