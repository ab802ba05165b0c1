"""Killing ``relaywarden serve`` while jobs run: after a restart on the same database every
job completes exactly once in effect.

The process is the real console script; the fake providers run in the test process and
hold the Create/Delete calls open, so the kill lands while those calls are in flight, some
of them after the provider already acted.
"""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import CALLBACK_TOKEN, relay_body, wait_for
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.trtc import FakeTrtc
from tests.support.servers import free_port

RELAYWARDEN = Path(sys.executable).with_name("relaywarden")
CREATE = "CreateLivePullToPush"
DELETE = "DeleteLivePullToPush"
N = 6


@dataclass
class Service:
    """``relaywarden serve`` runs, one process at a time, on one port and one database."""

    tmp_path: Path
    env: dict[str, str]
    url: str
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    def start(self) -> None:
        self.runs += 1
        log = (self.tmp_path / f"serve-{self.runs}.log").open("wb")
        self.process = subprocess.Popen(
            [str(RELAYWARDEN), "serve"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self.tmp_path,
        )
        log.close()

        def ready() -> bool:
            assert self.process is not None
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}: {self.log()}")
            try:
                return httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200
            except httpx.TransportError:
                return False

        wait_for(ready, timeout=30, what="relaywarden serve ready")

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no lease given back, no in-flight call finished."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def log(self) -> str:
        return (self.tmp_path / f"serve-{self.runs}.log").read_text(errors="replace")[-4000:]

    def get(self, path: str, **params: str) -> Any:
        response = httpx.get(f"{self.url}{path}", params=params, timeout=10)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAliyunLive, FakeTrtc]]:
    aliyun = FakeAliyunLive(hang_seconds=60.0)
    trtc = FakeTrtc()
    with aliyun.serve(), trtc.serve():
        yield aliyun, trtc


@pytest.fixture
def service(tmp_path: Path, fakes: tuple[FakeAliyunLive, FakeTrtc]) -> Iterator[Service]:
    aliyun, trtc = fakes
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    env.update(
        RELAYWARDEN_PORT=str(port),
        RELAYWARDEN_DATABASE_URL=f"sqlite:///{tmp_path / 'relaywarden.db'}",
        RELAYWARDEN_CALLBACK_TOKEN=CALLBACK_TOKEN,
        RELAYWARDEN_ALIYUN_LIVE_ENDPOINT=str(aliyun.base_url),
        RELAYWARDEN_ALIYUN_ACCESS_KEY_ID=aliyun.access_key_id,
        RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET=aliyun.access_key_secret,
        RELAYWARDEN_TRTC_ENDPOINT=str(trtc.base_url),
        RELAYWARDEN_TENCENT_SECRET_ID=trtc.secret_id,
        RELAYWARDEN_TENCENT_SECRET_KEY=trtc.secret_key,
        # Hung calls must still be in flight when the process is killed: the deadline (a
        # quarter of the lease at most) must outlast the time it takes to get them all going.
        RELAYWARDEN_JOB_LEASE_SECONDS="10",
        RELAYWARDEN_PROVIDER_DEADLINE_SECONDS="2.5",
        RELAYWARDEN_JOB_BACKOFF_SECONDS="0.1",
        RELAYWARDEN_JOB_CONCURRENCY=str(N),
        RELAYWARDEN_LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    svc = Service(tmp_path=tmp_path, env=env, url=f"http://127.0.0.1:{port}")
    try:
        yield svc
    finally:
        svc.stop()


def db_jobs(tmp_path: Path) -> list[tuple[str, str]]:
    """(action, state) of every job, read from the file the killed process left."""
    conn = sqlite3.connect(tmp_path / "relaywarden.db")
    try:
        return [(str(a), str(s)) for a, s in conn.execute("SELECT action, state FROM jobs")]
    finally:
        conn.close()


def relays_in(service: Service, generation: int) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = service.get("/api/relays")["items"]
    done = len(items) == N and all(
        r["state"] == "active" and r["generation"] == generation for r in items
    )
    return items if done else None


def settled(service: Service) -> list[dict[str, Any]] | None:
    jobs: list[dict[str, Any]] = service.get("/api/jobs", limit="500")["items"]
    return None if any(j["state"] in ("pending", "running") for j in jobs) else jobs


def live(aliyun: FakeAliyunLive, dst_url: str) -> list[str]:
    return [t.task_id for t in aliyun.tasks if t.dst_url == dst_url and not t.deleted]


def test_killed_while_jobs_run_every_job_completes_exactly_once(
    tmp_path: Path, fakes: tuple[FakeAliyunLive, FakeTrtc], service: Service
) -> None:
    aliyun, _ = fakes

    # Round 1: every first Create hangs; half of them created the task before hanging.
    aliyun.inject(CREATE, *["acted_but_timeout"] * (N // 2), *["timeout"] * (N - N // 2))
    service.start()
    for n in range(N):
        response = httpx.post(
            f"{service.url}/api/relays", json=relay_body(f"crash-{n}"), timeout=10
        )
        assert response.status_code == 202, response.text
    wait_for(lambda: len(aliyun.calls_for(CREATE)) == N, what="every Create in flight")
    service.kill()
    assert db_jobs(tmp_path) == [("create_task", "running")] * N
    assert len(aliyun.tasks) == N // 2  # made at the provider, unknown to relaywarden

    service.start()
    created = wait_for(lambda: relays_in(service, 1), timeout=30, what="relays created")
    jobs = wait_for(lambda: settled(service), what="jobs settled")
    assert [(j["action"], j["state"], j["attempts"]) for j in jobs] == [
        ("create_task", "succeeded", 2)
    ] * N
    for relay in created:
        assert live(aliyun, relay["pull_to_push"]["DstUrl"]) == [relay["current_task_id"]]
    assert len(aliyun.tasks) == N  # the lost ones adopted, none made twice

    # Round 2: every relay's task fails; re-creations hang in Delete or in Create.
    aliyun.inject(DELETE, *["acted_but_timeout"] * (N // 2))
    aliyun.inject(CREATE, "acted_but_timeout", *["timeout"] * (N - N // 2 - 1))
    before = len(aliyun.calls)
    first_tasks = {r["id"]: r["current_task_id"] for r in created}
    for task_id in first_tasks.values():
        body = aliyun.set_task_status(task_id, 3, "PullStreamFailed")
        assert aliyun.post_callback(task_id, body).json() == {"status": "accepted"}

    def in_flight() -> bool:
        calls = aliyun.calls[before:]
        deletes = [c for c in calls if c.action == DELETE]
        creates = [c for c in calls if c.action == CREATE]
        return len(deletes) == N and len(creates) == N - N // 2

    wait_for(in_flight, what="every re-creation in flight")
    service.kill()
    assert sorted(db_jobs(tmp_path)) == sorted(
        [("create_task", "succeeded")] * N + [("recreate", "running")] * N
    )

    service.start()
    recreated = wait_for(lambda: relays_in(service, 2), timeout=30, what="relays re-created")
    jobs = wait_for(lambda: settled(service), what="jobs settled")
    assert {(j["action"], j["state"]) for j in jobs} == {
        ("create_task", "succeeded"),
        ("recreate", "succeeded"),
    }
    assert len(jobs) == 2 * N
    assert {j["attempts"] for j in jobs if j["action"] == "recreate"} == {2}
    for relay in recreated:
        dst = relay["pull_to_push"]["DstUrl"]
        assert live(aliyun, dst) == [relay["current_task_id"]]
        assert relay["current_task_id"] != first_tasks[relay["id"]]
        assert aliyun.task(first_tasks[relay["id"]]).deleted
        assert len([t for t in aliyun.tasks if t.dst_url == dst]) == 2  # one per generation
        assert len(relay["recreate_attempts"]) == 1  # the killed run counted once
    assert service.process is not None and service.process.poll() is None
