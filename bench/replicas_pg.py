"""Benchmark: callback throughput and p99 on SQLite (one process) and PostgreSQL (one and N
replicas), under the same load.

Every run is real ``relaywarden serve`` processes (``bench/servers.py``: rules, job runner,
JSON logs, adoption bounds raised for the load) driven by wrk (``bench/load.py``). With N
replicas the connections are split evenly between them, one wrk per replica running at the
same time, as a load balancer would; their counts are summed and the latencies shown are the
worst replica's percentiles. SQLite commits with synchronous=FULL; PostgreSQL runs a fresh
cluster (``tests/support/postgres.py``: ``initdb`` in a temporary directory, fsync and
synchronous_commit on) on this machine. Every request carries a distinct event (each wrk
numbers its requests from its own offset), so none is a duplicate, and the events stored are
counted afterwards.

    .venv/bin/python bench/replicas_pg.py [--connections 32] [--duration 10] [--warmup 2]
        [--replicas 2] [--json out.json] [--pg-databases URL URL]

``--pg-databases`` runs on two existing, empty PostgreSQL databases (one replica, then N)
instead of a cluster of its own: the bench's smoke test uses the test suite's server.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(1, str(ROOT))  # tests.support: the PostgreSQL server and db_query

from load import WrkResult, run_wrk  # noqa: E402
from servers import Server, relaywarden  # noqa: E402

from tests.support.database import db_query  # noqa: E402
from tests.support.postgres import PostgresServer, find_pg_bin  # noqa: E402

#: Request numbers each wrk run owns: run i sends numbers [i * STRIDE, (i + 1) * STRIDE).
#: Far above what one run can send, and EventTime (base + number) stays a plausible date.
STRIDE = 10_000_000


@dataclass(frozen=True)
class RunResult:
    """One configuration's load, summed over its replicas, and what the store kept."""

    parts: list[WrkResult]
    accepted: int  # callbacks the replicas acknowledged as new events (warm-up included)
    duplicates: int
    stored: int  # events in the database after the run (warm-up included)

    @property
    def requests(self) -> int:
        return sum(part.requests for part in self.parts)

    @property
    def errors(self) -> int:
        return sum(part.errors for part in self.parts)

    @property
    def non_2xx(self) -> int:
        return sum(part.non_2xx for part in self.parts)

    @property
    def rate(self) -> float:
        return sum(part.rate for part in self.parts)

    @property
    def p50(self) -> float:
        return max(part.p50 for part in self.parts)

    @property
    def p99(self) -> float:
        return max(part.p99 for part in self.parts)

    def as_dict(self) -> dict[str, float]:
        return {
            "replicas": len(self.parts),
            "requests": self.requests,
            "errors": self.errors,
            "non_2xx": self.non_2xx,
            "req_per_s": round(self.rate, 1),
            "p50_ms": round(self.p50 * 1000, 3),
            "p99_ms": round(self.p99 * 1000, 3),
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "stored": self.stored,
        }


def _load(
    servers: list[Server], args: argparse.Namespace, phase: int, seconds: float
) -> list[WrkResult]:
    """One wrk per replica, concurrently, each on its own range of request numbers."""
    share = max(1, args.connections // len(servers))

    def one(index: int) -> WrkResult:
        return run_wrk(
            servers[index].callback_url,
            connections=share,
            duration=seconds,
            tasks=args.tasks,
            first=(phase * len(servers) + index) * STRIDE,
        )

    with ThreadPoolExecutor(max_workers=len(servers)) as pool:
        return list(pool.map(one, range(len(servers))))


def run(
    database_url: str, replicas: int, args: argparse.Namespace, workdir: Path, label: str
) -> RunResult:
    """Start ``replicas`` serve processes on ``database_url``, load them, count stored events."""
    with contextlib.ExitStack() as stack:
        servers = [
            stack.enter_context(relaywarden(workdir, f"{label}-{n}", database_url=database_url))
            for n in range(replicas)
        ]
        if args.warmup > 0:
            _load(servers, args, 0, args.warmup)
        parts = _load(servers, args, 1, args.duration)
        accepted = sum(server.accepted() for server in servers)
        duplicates = sum(server.duplicates() for server in servers)
    stored = int(db_query(database_url, "SELECT COUNT(*) AS n FROM events")[0]["n"])
    return RunResult(parts, accepted, duplicates, stored)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    add = parser.add_argument
    add("--connections", type=int, default=32, help="wrk connections in total, per run")
    add("--duration", type=float, default=10.0, help="measured seconds per run (wrk: >= 1)")
    add("--warmup", type=float, default=2.0, help="unmeasured seconds first (0: none)")
    add("--replicas", type=int, default=2, help="PostgreSQL replicas of the last run")
    add("--tasks", type=int, default=256, help="distinct task ids the load cycles through")
    add("--json", type=Path, help="also write the results to this file")
    add("--pg-databases", nargs=2, metavar="URL", help="two empty databases to use instead")
    return parser


def _report(results: dict[str, RunResult], args: argparse.Namespace) -> bool:
    """Print the table; True when every run is valid (no errors, non-200s or duplicates)."""
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
    valid = True
    for name, result in results.items():
        valid = valid and not (result.errors or result.non_2xx or result.duplicates)
        valid = valid and result.stored >= result.requests
        print(
            f"{name:<24} {result.requests:>9} {result.non_2xx:>8} {result.errors:>7} "
            f"{result.rate:>8.0f} {result.p50 * 1000:>8.2f} {result.p99 * 1000:>8.2f} "
            f"{result.stored:>8}"
        )
    print("p50/p99: the worst replica's; stored: events in the database (warm-up included)")
    return valid


@contextlib.contextmanager
def _postgres(args: argparse.Namespace, root: Path) -> Iterator[tuple[str, str]]:
    """Two empty databases: ``--pg-databases``, or on a fresh cluster under ``root``."""
    if args.pg_databases:
        yield args.pg_databases[0], args.pg_databases[1]
        return
    bin_dir = find_pg_bin()
    if bin_dir is None:
        raise SystemExit("PostgreSQL server binaries not found: apt install postgresql")
    server = PostgresServer(bin_dir, root / "pg")
    server.root.mkdir()
    os.chmod(root, 0o755)  # the postgres user (under root) must reach its directory
    server.start()
    try:
        yield server.new_database(), server.new_database()
    finally:
        server.stop()


def main() -> None:
    args = _parser().parse_args()
    if args.replicas < 1 or args.connections < args.replicas:
        raise SystemExit("need --replicas >= 1 and at least one connection per replica")
    results: dict[str, RunResult] = {}
    with tempfile.TemporaryDirectory(prefix="relaywarden-bench-pg-") as tmp:
        root = Path(tmp)
        results["SQLite, 1 process"] = run(f"sqlite:///{root / 'bench.db'}", 1, args, root, "lite")
        with _postgres(args, root) as (one, many):
            results["PostgreSQL, 1 replica"] = run(one, 1, args, root, "pg1")
            results[f"PostgreSQL, {args.replicas} replicas"] = run(
                many, args.replicas, args, root, "pgn"
            )

    valid = _report(results, args)
    if args.json is not None:
        data = {name: result.as_dict() for name, result in results.items()}
        args.json.write_text(json.dumps({"valid": valid, "runs": data}, indent=2) + "\n")
    if not valid:
        raise SystemExit("the benchmark saw errors or duplicates: the figures are not valid")


if __name__ == "__main__":
    main()
