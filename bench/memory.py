"""Memory: the server's RSS over a long run after warm-up, and store bytes per callback.

wrk sends the throughput load in chunks until relaywarden has acknowledged the wanted number
of callbacks; a thread samples the process's RSS meanwhile. The store's size is the bytes
its used pages hold (WAL content included), read from a separate read-only connection.
"""

from __future__ import annotations

import argparse
import threading
from pathlib import Path

from load import run_wrk
from report import Figure, Report
from servers import Server, relaywarden, store_bytes

__all__ = ["run_memory"]

MB = 1024 * 1024
#: The issue's figures on main: 49.5 MB flat, 822 bytes per callback.
ISSUE_RSS_MB = 49.5
ISSUE_STORE_BYTES = 822


def _send(server: Server, args: argparse.Namespace, target: int) -> None:
    """Run the load until relaywarden has acknowledged ``target`` callbacks in all."""
    rate = 1000.0
    while (done := server.accepted()) < target:
        seconds = min(10.0, max(1.0, (target - done) / rate))
        result = run_wrk(
            server.callback_url, connections=args.connections, duration=seconds, tasks=args.tasks
        )
        if result.errors or result.non_2xx or not result.requests:
            raise SystemExit(f"memory run: {result.errors} errors, {result.non_2xx} non-2xx")
        rate = max(rate, result.rate)


class _Sampler(threading.Thread):
    def __init__(self, server: Server, interval: float = 0.5) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.interval = interval
        self.samples: list[int] = []
        self._stop_event = threading.Event()

    def run(self) -> None:
        while not self._stop_event.wait(self.interval):
            self.samples.append(self.server.rss_bytes())

    def stop(self) -> list[int]:
        self._stop_event.set()
        self.join()
        return self.samples


def run_memory(report: Report, workdir: Path, args: argparse.Namespace) -> None:
    """RSS after warm-up vs after ``args.memory_callbacks`` more; store bytes per callback."""
    warm, count = args.memory_warmup, args.memory_callbacks
    print(f"memory: {warm} callbacks warm-up, then {count} measured", flush=True)
    with relaywarden(workdir, "rw-memory") as server:
        assert server.database is not None
        _send(server, args, warm)
        first_count, first_rss = server.accepted(), server.rss_bytes()
        first_store = store_bytes(server.database)
        sampler = _Sampler(server)
        sampler.start()
        try:
            _send(server, args, first_count + count)
        finally:
            samples = sampler.stop()
        last_count, last_rss = server.accepted(), server.rss_bytes()
        last_store = store_bytes(server.database)
    stored = last_count - first_count
    per_callback = (last_store - first_store) / stored
    peak = max([*samples, last_rss])
    growth = (last_rss - first_rss) / MB
    line = (
        f"RSS {first_rss / MB:.1f} MB after warm-up, {last_rss / MB:.1f} MB after {stored} "
        f"more callbacks (peak {peak / MB:.1f} MB); store +{per_callback:.0f} bytes/callback"
    )
    details = {
        "warmup_callbacks": first_count,
        "measured_callbacks": stored,
        "rss_after_warmup_bytes": first_rss,
        "rss_end_bytes": last_rss,
        "rss_peak_bytes": peak,
        "rss_samples_bytes": samples,
        "store_after_warmup_bytes": first_store,
        "store_end_bytes": last_store,
    }
    report.outcome("memory", line, details)
    flat = 0.05 * ISSUE_RSS_MB
    report.add(
        Figure.info("memory", "RSS after warm-up", first_rss / MB, "MB", f"issue: {ISSUE_RSS_MB}"),
        Figure.info("memory", f"RSS after {stored} more", last_rss / MB, "MB"),
        Figure.at_most("memory", "RSS growth", growth, "MB", flat, "flat: 5 % of 49.5 MB"),
        Figure.at_most(
            "memory",
            "store bytes per callback",
            per_callback,
            "B",
            ISSUE_STORE_BYTES,
            f"goal {ISSUE_STORE_BYTES // 2} B",
        ),
    )
