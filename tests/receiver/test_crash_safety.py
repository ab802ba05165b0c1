"""Ack after durable commit: SIGKILL `relaywarden serve` mid-stream, restart, check the file.

Several client threads send distinct events (and some resends) to a real server process on
a real SQLite file. The process is killed with SIGKILL while requests are in flight. Every
callback that was answered 200 must then be in the events table exactly once with its task
state applied, and nothing may be half-applied; after a restart on the same file, resending
everything gives only duplicates for what was acknowledged.
"""

from __future__ import annotations

import random
import signal
import sqlite3
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    aliyun_status,
    dumps,
    start_serve,
    task_path,
)
from tests.receiver.test_logs import OFFLINE

THREADS = 4
PER_THREAD = 2000  # far more than can be sent before the kill
TASKS_PER_THREAD = 5
KILL_AFTER_ACKS = 200
STATUSES = {1: "running", 2: "recovering", 3: "offline"}


@dataclass(frozen=True)
class Sent:
    body: bytes
    task_id: str
    event_time_ms: int
    status: str


@dataclass
class Stream:
    """One client thread's callbacks and what became of them."""

    index: int
    callbacks: list[Sent] = field(default_factory=list)
    attempted: list[Sent] = field(default_factory=list)  # new callbacks sent at least once
    answers: list[tuple[Sent, str]] = field(default_factory=list)  # accepted / duplicate
    failure: str | None = None


def plan(index: int) -> list[Sent]:
    """Distinct events, each task's in increasing provider time."""
    out = []
    for n in range(PER_THREAD):
        task_id = f"crash-{index}/{n % TASKS_PER_THREAD}"
        code = 1 + n % 3
        seconds = 1_725_500_000 + n
        reason = "TriggerByUser" if code == 3 else None
        body = dumps(aliyun_status(task_id, code, seconds, reason=reason))
        out.append(Sent(body, task_id, seconds * 1000, STATUSES[code]))
    return out


def run_stream(stream: Stream, base: str, acks: list[int], lock: threading.Lock) -> None:
    rng = random.Random(stream.index)
    sent: list[Sent] = []
    with httpx.Client(base_url=base, timeout=10) as client:
        for callback in stream.callbacks:
            queue = [callback]
            stream.attempted.append(callback)
            if sent and rng.random() < 0.2:
                queue.append(rng.choice(sent))  # a provider retry of an earlier callback
            for item in queue:
                try:
                    response = client.post(
                        ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=item.body
                    )
                except httpx.TransportError as exc:
                    stream.failure = type(exc).__name__
                    return
                if response.status_code != 200:
                    stream.failure = f"HTTP {response.status_code}"
                    return
                stream.answers.append((item, response.json()["status"]))
                with lock:
                    acks[0] += 1
            sent.append(callback)


def expected_state(db: Path) -> dict[str, tuple[int, str]]:
    """Per task, the (event id, status) of its newest event in the file."""
    conn = sqlite3.connect(db)
    try:
        rows = conn.execute(
            "SELECT task_id, id, status FROM events e WHERE event_time_ms = "
            "(SELECT MAX(event_time_ms) FROM events WHERE task_id = e.task_id)"
        ).fetchall()
    finally:
        conn.close()
    return {task_id: (event_id, status) for task_id, event_id, status in rows}


def check_file(db: Path, acknowledged: list[Sent]) -> None:
    conn = sqlite3.connect(db)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        for item in acknowledged:
            rows = conn.execute(
                "SELECT status, raw FROM events WHERE task_id = ? AND event_time_ms = ?",
                (item.task_id, item.event_time_ms),
            ).fetchall()
            assert rows == [(item.status, item.body)], item
        # Each task's state is its newest event (per task, events arrive in time order).
        state = expected_state(db)
        tasks = conn.execute("SELECT task_id, state_event_id, status FROM tasks").fetchall()
        assert {t: (e, s) for t, e, s in tasks} == state
        assert conn.execute("SELECT COUNT(*) FROM events WHERE applied = 0").fetchone() == (0,)
        # Nothing half-applied: every event has its task; every task was adopted as a relay
        # in the same transaction as its first event; every job names an existing event.
        assert conn.execute(
            "SELECT COUNT(*) FROM events WHERE task_id NOT IN (SELECT task_id FROM tasks)"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT COUNT(*) FROM tasks WHERE task_id NOT IN "
            "(SELECT task_id FROM relay_tasks WHERE provider = 'aliyun')"
        ).fetchone() == (0,)
        assert conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE cause_event_id IS NOT NULL "
            "AND cause_event_id NOT IN (SELECT id FROM events)"
        ).fetchone() == (0,)
    finally:
        conn.close()


def test_sigkill_loses_no_acknowledged_callback(tmp_path: Path) -> None:
    db = tmp_path / "crash.db"
    process = start_serve(tmp_path, db, name="first", **OFFLINE)
    streams = [Stream(i, plan(i)) for i in range(THREADS)]
    acks = [0]
    lock = threading.Lock()
    threads = [
        threading.Thread(target=run_stream, args=(s, process.base, acks, lock), daemon=True)
        for s in streams
    ]
    try:
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 60
        while acks[0] < KILL_AFTER_ACKS:
            assert time.monotonic() < deadline, "callbacks are not being acknowledged"
            assert all(t.is_alive() for t in threads), [s.failure for s in streams]
            time.sleep(0.002)
        process.popen.send_signal(signal.SIGKILL)
        process.popen.wait(timeout=10)
        for thread in threads:
            thread.join(timeout=30)
            assert not thread.is_alive()
    finally:
        process.stop(signal.SIGKILL)

    # Killed mid-stream: every client was cut off with requests left to send.
    assert all(s.failure is not None for s in streams), [s.failure for s in streams]
    answered = [pair for s in streams for pair in s.answers]
    assert len(answered) >= KILL_AFTER_ACKS
    assert {outcome for _, outcome in answered} == {"accepted", "duplicate"}
    acknowledged = list({item.body: item for item, _ in answered}.values())

    # 1. The file as the killed process left it, read with sqlite3 directly.
    check_file(db, acknowledged)
    state = expected_state(db)
    events_before = sqlite3.connect(db).execute("SELECT COUNT(*) FROM events").fetchone()[0]
    assert events_before >= len(acknowledged)

    # 2. Restart on the same file: the API agrees, and resending gives duplicates.
    process = start_serve(tmp_path, db, name="second", **OFFLINE)
    try:
        with httpx.Client(base_url=process.base, timeout=10) as client:
            for task_id, (event_id, status) in state.items():
                task = client.get(task_path("aliyun", task_id)).json()
                assert (task["status"], task["state_event_id"]) == (status, event_id)
            acked_bodies = {item.body for item in acknowledged}
            attempted = [c for s in streams for c in s.attempted]
            for item in attempted:
                response = client.post(
                    ALIYUN_PATH, params={"token": CALLBACK_TOKEN}, content=item.body
                )
                assert response.status_code == 200, response.text
                outcome = response.json()["status"]
                if item.body in acked_bodies:
                    assert outcome == "duplicate", item
                else:
                    assert outcome in ("accepted", "duplicate")
            # Every attempted callback is now stored exactly once, the states follow.
            check_file(db, attempted)
            for task_id, (_, status) in expected_state(db).items():
                assert client.get(task_path("aliyun", task_id)).json()["status"] == status
    finally:
        process.stop(signal.SIGKILL)
