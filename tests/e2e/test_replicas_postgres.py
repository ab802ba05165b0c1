"""Two ``relaywarden serve`` replicas on one PostgreSQL database, one of them SIGKILLed.

Relays are declared on both replicas; their tasks fail, and each failure callback reaches
one replica and, as a provider retry, the other one at the same time. Halfway through,
one replica is killed (no shutdown, leases and rate slots left behind). The survivor must
finish everything: every acknowledged callback stored exactly once, every failure healed
exactly once at the fake provider (one Delete of the failed task, one new Create), and
no 1-second window at the provider ever holding more calls than the shared QPS budget.
"""

from __future__ import annotations

import concurrent.futures
import os
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.conftest import CALLBACK_TOKEN, relay_body, wait_for
from tests.e2e.test_job_crash import RELAYWARDEN, Service, settled
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.trtc import FakeTrtc
from tests.support.database import db_query
from tests.support.servers import free_port

CREATE = "CreateLivePullToPush"
DELETE = "DeleteLivePullToPush"
QPS = 4
ACCEPTED = {"status": "accepted"}
N = 8


@pytest.fixture
def fakes() -> Iterator[tuple[FakeAliyunLive, FakeTrtc]]:
    aliyun = FakeAliyunLive(qps=QPS, hang_seconds=5.0)
    trtc = FakeTrtc()
    with aliyun.serve(), trtc.serve():
        yield aliyun, trtc


def _env(pg_url: str, aliyun: FakeAliyunLive, trtc: FakeTrtc, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    env.update(
        RELAYWARDEN_PORT=str(port),
        RELAYWARDEN_DATABASE_URL=pg_url,
        RELAYWARDEN_CALLBACK_TOKEN=CALLBACK_TOKEN,
        RELAYWARDEN_ALIYUN_LIVE_ENDPOINT=str(aliyun.base_url),
        RELAYWARDEN_ALIYUN_ACCESS_KEY_ID=aliyun.access_key_id,
        RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET=aliyun.access_key_secret,
        RELAYWARDEN_ALIYUN_QPS=str(QPS),
        RELAYWARDEN_TRTC_ENDPOINT=str(trtc.base_url),
        RELAYWARDEN_TENCENT_SECRET_ID=trtc.secret_id,
        RELAYWARDEN_TENCENT_SECRET_KEY=trtc.secret_key,
        RELAYWARDEN_JOB_LEASE_SECONDS="3",
        RELAYWARDEN_JOB_BACKOFF_SECONDS="0.1",
        RELAYWARDEN_LOG_FORMAT="console",
        PYTHONUNBUFFERED="1",
    )
    return env


@pytest.fixture
def replicas(
    tmp_path: Path, pg_url: str, fakes: tuple[FakeAliyunLive, FakeTrtc]
) -> Iterator[tuple[Service, Service]]:
    aliyun, trtc = fakes
    built: list[Service] = []
    for name in ("a", "b"):
        port = free_port()
        (tmp_path / name).mkdir()
        built.append(
            Service(
                tmp_path=tmp_path / name,
                env=_env(pg_url, aliyun, trtc, port),
                url=f"http://127.0.0.1:{port}",
            )
        )
    try:
        yield built[0], built[1]
    finally:
        for service in built:
            service.stop()


def _to(replica: Service, callback_url: str) -> str:
    """The task's CallbackUrl, aimed at ``replica`` (same path, token and relay)."""
    parts = urlsplit(callback_url)
    return urlunsplit(parts._replace(netloc=urlsplit(replica.url).netloc))


OFFLINE_ACCEPTED = (("outcome", "accepted"), ("source", "aliyun_pull_to_push"))
OFFLINE_DUPLICATE = (("outcome", "duplicate"), ("source", "aliyun_pull_to_push"))


def _metrics(service: Service) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the replica's /metrics, keyed by name and sorted labels."""
    text = httpx.get(f"{service.url}/metrics", timeout=10).text
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def _active(service: Service, generation: int) -> list[dict[str, Any]] | None:
    items: list[dict[str, Any]] = service.get("/api/relays", limit="100")["items"]
    done = len(items) == N and all(
        r["state"] == "active" and r["generation"] == generation for r in items
    )
    return items if done else None


def test_two_replicas_one_killed_nothing_lost_each_failure_healed_once(
    pg_url: str, fakes: tuple[FakeAliyunLive, FakeTrtc], replicas: tuple[Service, Service]
) -> None:
    aliyun, _ = fakes
    a, b = replicas
    migrated = subprocess.run(
        [str(RELAYWARDEN), "migrate"], env=a.env, capture_output=True, text=True, timeout=60
    )
    assert migrated.returncode == 0, migrated.stderr
    a.start()
    b.start()

    for n in range(N):
        target = (a, b)[n % 2]
        response = httpx.post(f"{target.url}/api/relays", json=relay_body(f"rep-{n}"), timeout=10)
        assert response.status_code == 202, response.text
    created = wait_for(lambda: _active(a, 1), timeout=30, what="relays created")
    first_tasks = {r["id"]: r["current_task_id"] for r in created}

    accepted: list[tuple[str, str]] = []  # (task id, status) of every 200 "accepted"
    order = sorted(first_tasks.items())

    def fail(task_id: str) -> tuple[dict[str, Any], str]:
        body = aliyun.set_task_status(task_id, 3, "PullStreamFailed")
        accepted.append((task_id, "offline"))
        return body, aliyun.task(task_id).callback_url

    # 1. The provider's delivery and its retry land on both replicas at once.
    for _, task_id in order[: N // 2]:
        body, url = fail(task_id)
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            answers = list(
                pool.map(
                    lambda replica, body=body, url=url: httpx.post(
                        _to(replica, url), json=body, timeout=10
                    ),
                    (a, b),
                )
            )
        assert all(r.status_code == 200 for r in answers), [r.text for r in answers]
        assert sorted(r.json()["status"] for r in answers) == ["accepted", "duplicate"]
    wait_for(lambda: settled(a), timeout=30, what="first re-creations settled")

    # Counters add up across the replicas; database gauges come from one replica only.
    scrapes = [_metrics(a), _metrics(b)]
    assert sum(s.get(("relaywarden_callbacks_total", OFFLINE_ACCEPTED), 0) for s in scrapes) == (
        N // 2
    )
    assert sum(s.get(("relaywarden_callbacks_total", OFFLINE_DUPLICATE), 0) for s in scrapes) == (
        N // 2
    )

    def gauges_from_one_replica() -> bool:
        relays = [
            s.get(("relaywarden_relays", (("state", "active"),))) for s in map(_metrics, (a, b))
        ]
        return sorted(relays, key=lambda v: v is None) == [N, None]

    wait_for(gauges_from_one_replica, timeout=15, what="one replica exporting the gauges")

    # 2. Only B works (A paused): B's Deletes hang at the provider and B is killed mid-call.
    killed = [task_id for _, task_id in order[N // 2 : N // 2 + 2]]
    aliyun.inject(DELETE, *["timeout"] * len(killed))
    before = len(aliyun.calls)
    assert a.process is not None
    a.process.send_signal(signal.SIGSTOP)
    try:
        for task_id in killed:
            body, url = fail(task_id)
            assert httpx.post(_to(b, url), json=body, timeout=10).json() == ACCEPTED
        wait_for(
            lambda: len([c for c in aliyun.calls[before:] if c.action == DELETE]) == len(killed),
            what="B's Deletes in flight",
        )
        b.kill()  # no shutdown: its leases, in-flight calls and rate slots are left behind
    finally:
        a.process.send_signal(signal.SIGCONT)

    # 3. The rest reaches the survivor.
    for _, task_id in order[N // 2 + 2 :]:
        body, url = fail(task_id)
        assert httpx.post(_to(a, url), json=body, timeout=10).json() == ACCEPTED

    recreated = wait_for(lambda: _active(a, 2), timeout=60, what="relays re-created")
    jobs = wait_for(lambda: settled(a), timeout=30, what="jobs settled")
    assert {(j["action"], j["state"]) for j in jobs} == {
        ("create_task", "succeeded"),
        ("recreate", "succeeded"),
    }
    assert len(jobs) == 2 * N
    # B's two runs were taken over by A after their lease: each job claimed twice.
    taken_over = [j for j in jobs if j["action"] == "recreate" and j["attempts"] == 2]
    assert len(taken_over) == len(killed)

    stored = db_query(pg_url, "SELECT task_id, status FROM events ORDER BY id")
    assert sorted((r["task_id"], r["status"]) for r in stored) == sorted(accepted)

    for relay in recreated:
        dst = relay["pull_to_push"]["DstUrl"]
        old = first_tasks[relay["id"]]
        assert relay["current_task_id"] != old
        made = [c for c in aliyun.calls_for(CREATE) if c.acted and c.params["DstUrl"] == dst]
        assert len(made) == 2  # generation 1 and its one replacement
        deleted = [c for c in aliyun.calls_for(DELETE) if c.acted and c.params["TaskId"] == old]
        assert len(deleted) == 1
        live = [t.task_id for t in aliyun.tasks if t.dst_url == dst and not t.deleted]
        assert live == [relay["current_task_id"]]

    assert aliyun.max_calls_per_window() <= QPS
    assert not [c for c in aliyun.calls if c.outcome.startswith("Throttling")]
    assert a.process is not None and a.process.poll() is None
