"""Two ``relaywarden serve`` replicas on one PostgreSQL database: what only one of them does,
and what all of them must learn at once.

* The periodic rounds (reconciler sweep with the orphan listing, retention) run on the
  leader only: one replica logs sweeps and prunes, the other neither; the orphan gauge
  counts each orphan once across the replicas; ``GET /api/orphans`` answers the same on
  both. When the leader is SIGKILLed, the survivor takes the rounds over.
* ``POST /api/token/rotate`` on one replica: the other accepts the new token within two
  seconds, and both refuse the old one (no grace period, as documented).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.conftest import wait_for
from tests.e2e.helpers import task_params
from tests.e2e.test_job_crash import Service
from tests.e2e.test_replicas_postgres import _env, _metrics
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.trtc import FakeTrtc
from tests.support.servers import free_port

#: The address providers reach the replicas at (the load balancer): the same for both.
PUBLIC_URL = "http://relaywarden.lb.test"
CALLBACK_PATH = "/callbacks/aliyun/pull-to-push"
INTERVAL = 0.3


@pytest.fixture
def providers() -> Iterator[tuple[FakeAliyunLive, FakeTrtc]]:
    aliyun = FakeAliyunLive()
    trtc = FakeTrtc()
    with aliyun.serve(), trtc.serve():
        yield aliyun, trtc


@pytest.fixture
def pair(
    tmp_path: Path, pg_url: str, providers: tuple[FakeAliyunLive, FakeTrtc]
) -> Iterator[tuple[Service, Service]]:
    """Replicas A and B (not started): stored callback token, rounds every 0.3 s."""
    built: list[Service] = []
    for name in ("a", "b"):
        port = free_port()
        env = _env(pg_url, *providers, port)
        del env["RELAYWARDEN_CALLBACK_TOKEN"]  # a stored token, which rotation may change
        env.update(
            RELAYWARDEN_PUBLIC_URL=PUBLIC_URL,
            RELAYWARDEN_RECONCILE_INTERVAL_SECONDS=str(INTERVAL),
            RELAYWARDEN_RETENTION_DAYS=str(2 / 86400),  # two seconds
            RELAYWARDEN_RETENTION_INTERVAL_SECONDS=str(INTERVAL),
        )
        (tmp_path / name).mkdir()
        built.append(Service(tmp_path / name, env, f"http://127.0.0.1:{port}"))
    try:
        yield built[0], built[1]
    finally:
        for service in built:
            service.stop()


def _log(service: Service) -> str:
    """The whole log of the replica's current run."""
    return (service.tmp_path / f"serve-{service.runs}.log").read_text(errors="replace")


def _sweeps(service: Service) -> int:
    """How many reconciler sweeps the replica logged (its current run)."""
    return sum(" reconciled " in f" {line} " for line in _log(service).splitlines())


def _orphan_gauge(service: Service) -> float:
    return _metrics(service)[("relaywarden_orphan_tasks", ())]


def _pruned(service: Service) -> float:
    return _metrics(service)[("relaywarden_pruned_rows_total", (("kind", "unrecognized"),))]


def test_rounds_run_on_one_replica_and_move_when_it_dies(
    providers: tuple[FakeAliyunLive, FakeTrtc], pair: tuple[Service, Service]
) -> None:
    aliyun, _ = providers
    ghost = aliyun.add_task(
        task_params("of-a-gone-relay", f"{PUBLIC_URL}{CALLBACK_PATH}?token=x&relay=ghost")
    )
    a, b = pair
    a.start()
    b.start()

    def swept_on_both() -> list[dict[str, Any]] | None:
        answers = [s.get("/api/orphans") for s in (a, b)]
        return answers if all(answer["swept_at"] for answer in answers) else None

    # Either replica answers from the last sweep, whichever made it.
    listed = wait_for(swept_on_both, timeout=15, what="an orphan sweep seen by both")
    assert [[o["task_id"] for o in answer["items"]] for answer in listed] == [[ghost], [ghost]]

    wait_for(lambda: max(_sweeps(a), _sweeps(b)) >= 5, timeout=15, what="five sweeps")
    counts = sorted(((_sweeps(s), s) for s in (a, b)), key=lambda pair: pair[0])
    (follower_sweeps, follower), (_, leader) = counts
    assert follower_sweeps == 0, follower.log()
    # Each sweep lists the region once: the provider sees one replica's sweeps, not two.
    listings = [c for c in aliyun.calls if c.action == "DescribeLivePullToPushList"]
    assert len(listings) <= _sweeps(leader) + 1

    # The gauge counts the orphan once across the replicas (the leader's).
    assert (_orphan_gauge(leader), _orphan_gauge(follower)) == (1, 0)

    # Quarantined bodies, through both replicas, are pruned by the leader alone.
    token = a.get("/api/token")["token"]
    for n, replica in enumerate((a, b, a, b)):
        quarantined = httpx.post(
            f"{replica.url}{CALLBACK_PATH}",
            params={"token": token},
            json={"Event": "SomethingElse", "TaskId": f"q-{n}"},
            timeout=10,
        )
        assert quarantined.status_code == 202, quarantined.text
    wait_for(lambda: _pruned(leader) + _pruned(follower) >= 4, timeout=15, what="pruned")
    assert (_pruned(leader), _pruned(follower)) == (4, 0)
    assert not a.get("/api/unrecognized")["items"]

    leader.kill()
    wait_for(lambda: _sweeps(follower) >= 2, timeout=15, what="the survivor sweeping")
    assert _orphan_gauge(follower) == 1
    assert [o["task_id"] for o in follower.get("/api/orphans")["items"]] == [ghost]


def _callback(service: Service, token: str, task_id: str) -> int:
    body: dict[str, Any] = {
        "EventTime": str(int(time.time())),
        "TaskId": task_id,
        "Event": "LivePullToPushRunning",
        "TaskStatus": 1,
    }
    url = f"{service.url}{CALLBACK_PATH}"
    return httpx.post(url, params={"token": token}, json=body, timeout=10).status_code


def test_a_token_rotated_on_one_replica_is_taken_up_by_the_other(
    pair: tuple[Service, Service],
) -> None:
    a, b = pair
    a.start()
    b.start()
    old = a.get("/api/token")["token"]
    assert b.get("/api/token")["token"] == old
    assert [_callback(s, old, f"before-{s.url}") for s in (a, b)] == [200, 200]

    rotated = httpx.post(f"{a.url}/api/token/rotate", timeout=10)
    assert rotated.status_code == 200, rotated.text
    new = rotated.json()["token"]
    started = time.monotonic()
    assert new != old
    assert _callback(a, new, "new-on-a") == 200

    tries = iter(range(1000))
    wait_for(
        lambda: _callback(b, new, f"new-on-b-{next(tries)}") == 200,
        timeout=2,
        what="B accepting the rotated token",
    )
    assert time.monotonic() - started < 2
    # No grace period: the old token is refused on both replicas from then on.
    assert [_callback(s, old, f"after-{s.url}") for s in (a, b)] == [401, 401]
    assert b.get("/api/token")["token"] == new
    assert new not in _log(a) and new not in _log(b)
