"""Scenarios against the fake Alibaba Live OpenAPI: follow-up latency and burst budget.

relaywarden runs as ``relaywarden serve`` pointed at ``tests.fakes.aliyun_live`` served on a
loopback port in this process; the fake records when each call arrives (``time.monotonic``,
one clock for every process on the machine). Tasks are created at the fake as if by another
tool with relaywarden's CallbackUrl, and adopted from their first (running) callback, whose
complete TaskInfo needs no provider call.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import math
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
from report import Figure, Report
from servers import Server, relaywarden

from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.common import CallRecord

__all__ = ["run_burst", "run_followup"]

QPS = 10
FAILURE_REASON = "PullStreamFailed"
RECREATE_CALLS = ("DeleteLivePullToPush", "CreateLivePullToPush")


@contextlib.contextmanager
def _stack(workdir: Path, name: str) -> Iterator[tuple[FakeAliyunLive, Server]]:
    fake = FakeAliyunLive(qps=QPS, hang_seconds=5.0)
    with (
        fake.serve() as url,
        relaywarden(
            workdir,
            name,
            aliyun_live_endpoint=url,
            aliyun_access_key_id=fake.access_key_id,
            aliyun_access_key_secret=fake.access_key_secret,
            aliyun_qps=str(QPS),
        ) as server,
    ):
        yield fake, server


def _provider_time(offset: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + offset))


def _adopt(fake: FakeAliyunLive, server: Server, count: int, prefix: str) -> list[str]:
    """Create ``count`` running tasks at the fake; relaywarden adopts each from a callback."""
    task_ids = []
    with httpx.Client(timeout=10) as client:
        for index in range(count):
            name = f"{prefix}-{index:05d}"
            task_id = fake.add_task(
                {
                    "Region": "cn-shanghai",
                    "TaskName": name,
                    "SourceType": "live",
                    "SourceProtocol": "rtmp",
                    "SourceUrls": [f"rtmp://src.example.com/app/{name}"],
                    "DstUrl": f"rtmp://push.example.com/app/{name}",
                    "StartTime": _provider_time(-5),
                    "EndTime": _provider_time(7200),
                    "CallbackUrl": server.callback_url,
                    "RetryCount": 3,
                    "RetryInterval": 60,
                }
            )
            _expect_accepted(client.post(server.callback_url, json=fake.callback_body(task_id)))
            task_ids.append(task_id)
    if fake.calls:
        raise SystemExit(f"adoption called the provider {len(fake.calls)} times; expected none")
    return task_ids


def _expect_accepted(response: httpx.Response) -> None:
    if response.status_code != 200 or response.json() != {"status": "accepted"}:
        raise SystemExit(f"callback answered {response.status_code}: {response.text[:200]}")


def _wait(what: str, predicate: Callable[[], bool], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise SystemExit(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.05)


def _healed(fake: FakeAliyunLive, count: int) -> bool:
    created = [c for c in fake.calls_for("CreateLivePullToPush") if c.outcome == "ok"]
    return len(created) >= count


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    rank = min(len(ordered), max(1, math.ceil(len(ordered) * fraction)))
    return ordered[rank - 1]


def run_followup(report: Report, workdir: Path, args: argparse.Namespace) -> None:
    """Failure callbacks spaced under the QPS budget: the 200 → the first provider call."""
    count, spacing = args.followups, args.followup_spacing
    print(f"follow-up: {count} failure callbacks, one every {spacing:g} s", flush=True)
    with _stack(workdir, "rw-followup") as (fake, server):
        task_ids = _adopt(fake, server, count, "followup")
        acked: dict[str, float] = {}
        with httpx.Client(timeout=10) as client:
            for task_id in task_ids:
                body = fake.set_task_status(task_id, 3, FAILURE_REASON)
                response = client.post(server.callback_url, json=body)
                acked[task_id] = time.monotonic()
                _expect_accepted(response)
                time.sleep(spacing)
        _wait("every failed task to be re-created", lambda: _healed(fake, count), 30 + count)
        first: dict[str, CallRecord] = {}
        for call in sorted(fake.calls, key=lambda c: c.time):
            first.setdefault(call.params.get("TaskId", ""), call)
        latencies = [(first[t].time - acked[t]) * 1000 for t in task_ids if t in first]
        if len(latencies) != count:
            report.problems.append(f"follow-up: {count - len(latencies)} tasks saw no call")
        actions = {first[t].action for t in task_ids if t in first}
        p50, p99 = _percentile(latencies, 0.50), _percentile(latencies, 0.99)
        report.outcome(
            "followup",
            f"first call ({', '.join(sorted(actions))}) after the 200: p50 {p50:.1f} ms, "
            f"p99 {p99:.1f} ms, max {max(latencies, default=float('nan')):.1f} ms",
            {
                "failures": count,
                "spacing_s": spacing,
                "first_actions": sorted(actions),
                "latencies_ms": [round(v, 2) for v in latencies],
            },
        )
        report.add(
            Figure.info("follow-up", "callback 200 -> first call p50", p50, "ms"),
            Figure.at_most("follow-up", "callback 200 -> first call p99", p99, "ms", 50),
        )


async def _post_all(url: str, bodies: list[dict[str, Any]]) -> list[tuple[int, bytes]]:
    """POST every body at once over 64 keep-alive connections; (status, body) answers.

    Plain asyncio streams: httpx's client tops out near 100 requests/s here with 64
    concurrent requests, which would make the burst a trickle.
    """
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    head = f"POST {parts.path}?{parts.query} HTTP/1.1\r\nHost: {host}:{port}\r\n"
    head += "Content-Type: application/json\r\nContent-Length: "
    answers: list[tuple[int, bytes]] = []
    pending = iter(bodies)

    async def worker() -> None:
        reader, writer = await asyncio.open_connection(host, port)
        try:
            for body in pending:
                payload = json.dumps(body).encode()
                writer.write(f"{head}{len(payload)}\r\n\r\n".encode() + payload)
                status_line, *header_lines = (
                    (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                )
                length = 0
                for line in header_lines:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value)
                answers.append((int(status_line.split()[1]), await reader.readexactly(length)))
        finally:
            writer.close()

    await asyncio.gather(*(worker() for _ in range(min(64, len(bodies)))))
    return answers


def run_burst(report: Report, workdir: Path, args: argparse.Namespace) -> None:
    """N simultaneous failures: calls, elapsed, share of the QPS budget, busiest window."""
    count = args.burst
    print(f"burst: {count} simultaneous failures, RELAYWARDEN_ALIYUN_QPS={QPS}", flush=True)
    with _stack(workdir, "rw-burst") as (fake, server):
        task_ids = _adopt(fake, server, count, "burst")
        bodies = [fake.set_task_status(t, 3, FAILURE_REASON) for t in task_ids]
        started = time.monotonic()
        for status, answer in asyncio.run(_post_all(server.callback_url, bodies)):
            if status != 200 or json.loads(answer) != {"status": "accepted"}:
                raise SystemExit(f"callback answered {status}: {answer[:200]!r}")
        acked = time.monotonic() - started
        minimum = 2 * count / QPS
        _wait("every failed task to be re-created", lambda: _healed(fake, count), 60 + 3 * minimum)
        calls = sorted(fake.calls, key=lambda c: c.time)
        elapsed = calls[-1].time - started
        # At most QPS calls in any 1-s window: calls spread from t to t + s can number at
        # most QPS * (s + 1), the budget they had. (calls / (QPS * elapsed), the issue's
        # measure, exceeds 100 % for small bursts: the first window is used at once.)
        spread = calls[-1].time - calls[0].time
        share = 100 * len(calls) / (QPS * (spread + 1))
        busiest = fake.max_calls_per_window()
        throttled = sum(1 for c in calls if c.outcome.startswith("Throttling"))
        recreate_calls = sum(1 for c in calls if c.action in RECREATE_CALLS and c.outcome == "ok")
        created = int(server.metric("relaywarden_recreations_total", outcome="created"))
        if created != count or recreate_calls != 2 * count:
            report.problems.append(
                f"burst: {created} re-creations and {recreate_calls} Delete/Create calls "
                f"for {count} failures"
            )
        line = (
            f"{len(calls)} calls ({throttled} throttled) in {elapsed:.1f} s "
            f"(all {count} callbacks acknowledged after {acked:.2f} s): {share:.1f} % of the "
            f"budget, at most {busiest} calls in any 1 s window; {created} relays re-created"
        )
        details = {
            "failures": count,
            "qps": QPS,
            "calls": len(calls),
            "throttled": throttled,
            "elapsed_s": round(elapsed, 3),
            "first_to_last_call_s": round(spread, 3),
            "first_call_after_s": round(calls[0].time - started, 3),
            "acknowledged_after_s": round(acked, 3),
            "budget_share_pct": round(share, 2),
            "max_calls_in_1s": busiest,
            "recreated": created,
        }
        report.outcome("burst", line, details)
        report.add(
            Figure.info("burst", f"calls for {count} failures", len(calls), ""),
            Figure.info("burst", "elapsed", elapsed, "s", f"calls need >= {minimum - 1:g} s"),
            Figure.at_least("burst", "share of the QPS budget", share, "%", 95, "issue: 99.7 %"),
            Figure.at_most("burst", "max calls in any 1 s", busiest, "", QPS),
            Figure.at_most("burst", "throttled answers", throttled, "", 0),
        )
