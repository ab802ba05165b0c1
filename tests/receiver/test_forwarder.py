"""Forwarding end to end: relaywarden (``build_app`` under real uvicorn, both backends)
forwards accepted callbacks to a real consumer on loopback that checks our signature,
with retries, a dead letter and its retry, and forwards that survive a kill."""

from __future__ import annotations

import contextlib
import re
import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.assembly import build_app
from receiver.config import ConfigError, Settings
from receiver.forwarder import backoff_ms
from tests.e2e.conftest import wait_for
from tests.receiver.forward_consumer import Consumer
from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    SAMPLE,
    TRTC_KEY,
    dumps,
    sign,
    start_serve,
    trtc_ingest,
)
from tests.support.servers import free_port, serve_in_thread

SECRET = "forward-secret-8c1f0e2d"


@contextlib.contextmanager
def relaywarden(database_url: str, forward_url: str | None, **overrides: Any) -> Iterator[str]:
    """The full app of ``serve`` (forwarder included) on loopback; yields its base URL."""
    port = free_port()
    values: dict[str, Any] = {
        "port": port,
        "database_url": database_url,
        "callback_token": CALLBACK_TOKEN,
        "trtc_callback_key": TRTC_KEY,
        "forward_url": forward_url,
        "forward_secret": SECRET if forward_url else None,
        "forward_backoff_seconds": 0.05,
        "reconcile_interval_seconds": 0,
    }
    values.update(overrides)
    with serve_in_thread(build_app(Settings(**values), banner=False), port=port) as base:
        yield base


def metric(base: str, name: str) -> float:
    text = httpx.get(f"{base}/metrics").text
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.MULTILINE)
    assert found, f"{name} not exported"
    return float(found.group(1))


def forwards(base: str, state: str | None = None) -> list[dict[str, Any]]:
    params = {"state": state} if state else {}
    response = httpx.get(f"{base}/api/forwards", params=params)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def test_forwards_are_signed_retried_and_delivered(database_url: str) -> None:
    consumer = Consumer(SECRET, fail_first=4)  # each of the two fails twice, in some order
    retried = 'relaywarden_forwards_total{outcome="retried"}'
    with consumer.serve() as hook, relaywarden(database_url, hook) as base:
        retried_before = metric(base, retried)
        aliyun = dumps(SAMPLE)
        trtc = trtc_ingest("ingest-1", 701, 0, 1701937900000)
        sent = httpx.post(f"{base}{ALIYUN_PATH}", params={"token": CALLBACK_TOKEN}, content=aliyun)
        assert sent.json() == {"status": "accepted"}
        trtc_headers = {
            "SdkAppId": "1400000000",
            "Content-Type": "application/json",
            "Sign": sign(TRTC_KEY, trtc),
        }
        assert httpx.post(f"{base}/callbacks/trtc", content=trtc, headers=trtc_headers).is_success
        wait_for(lambda: len(consumer.accepted()) == 2, what="both forwards delivered")
        # A provider retry of a callback already accepted is not forwarded again.
        again = httpx.post(f"{base}{ALIYUN_PATH}", params={"token": CALLBACK_TOKEN}, content=aliyun)
        assert again.json() == {"status": "duplicate"}

        def all_delivered() -> list[dict[str, Any]] | None:
            found = forwards(base)
            return found if all(i["state"] == "delivered" for i in found) else None

        items = wait_for(all_delivered, what="outbox delivered")
        assert metric(base, retried) - retried_before == 4
        assert metric(base, "relaywarden_forward_backlog") == 0
    assert len(items) == 2 and {i["attempts"] for i in items} == {3}
    assert all(d.verified for d in consumer.deliveries)
    assert len(consumer.deliveries) == 6
    by_source = {d.headers["x-relaywarden-source"]: d for d in consumer.accepted()}
    assert by_source["aliyun_pull_to_push"].body == aliyun  # the raw body, byte for byte
    assert by_source["trtc"].body == trtc
    assert by_source["trtc"].headers["sign"] == trtc_headers["Sign"]
    assert by_source["trtc"].headers["sdkappid"] == "1400000000"
    assert by_source["trtc"].headers["x-relaywarden-attempt"] == "3"
    for delivery in consumer.deliveries:  # the callback token never leaves relaywarden
        assert CALLBACK_TOKEN not in repr(delivery)


def test_dead_forward_is_listed_and_retried(database_url: str) -> None:
    consumer = Consumer(SECRET, failing=True)
    with consumer.serve() as hook, relaywarden(database_url, hook, forward_max_attempts=2) as base:
        httpx.post(f"{base}{ALIYUN_PATH}", params={"token": CALLBACK_TOKEN}, content=dumps(SAMPLE))
        [dead] = wait_for(lambda: forwards(base, "dead"), what="a dead forward")
        assert (dead["attempts"], dead["last_status"]) == (2, 503)
        assert dead["last_error"] == "the consumer answered 503"
        # The database gauges are refreshed every few seconds on PostgreSQL.
        wait_for(lambda: metric(base, "relaywarden_forwards_dead") == 1, what="dead gauge")
        consumer.failing = False
        retried = httpx.post(f"{base}/api/forwards/{dead['id']}/retry")
        assert retried.status_code == 200 and retried.json()["state"] == "pending"
        wait_for(lambda: consumer.accepted(), what="the retried forward delivered")
        wait_for(lambda: forwards(base, "delivered"), what="delivered state")
        again = httpx.post(f"{base}/api/forwards/{dead['id']}/retry")
        assert again.status_code == 409 and again.json()["error"]["code"] == "not_dead"
        assert httpx.post(f"{base}/api/forwards/999/retry").status_code == 404
        assert httpx.get(f"{base}/api/forwards", params={"state": "nope"}).status_code == 400
    assert len(consumer.deliveries) == 3


def test_forwarding_off_writes_no_outbox(database_url: str) -> None:
    with relaywarden(database_url, None) as base:
        sent = httpx.post(
            f"{base}{ALIYUN_PATH}", params={"token": CALLBACK_TOKEN}, content=dumps(SAMPLE)
        )
        assert sent.json() == {"status": "accepted"}
        assert forwards(base) == []


def test_undelivered_forwards_survive_a_kill(tmp_path: Path) -> None:
    db = tmp_path / "relaywarden.db"
    consumer = Consumer(SECRET)
    port = free_port()
    env = {
        "RELAYWARDEN_FORWARD_URL": f"http://127.0.0.1:{port}/hook",
        "RELAYWARDEN_FORWARD_SECRET": SECRET,
        "RELAYWARDEN_FORWARD_BACKOFF_SECONDS": "0.05",
    }
    # A consumer that takes the connection and never answers: the forward is being sent
    # (claimed under its lease) when relaywarden is killed.
    with socket.socket() as hanging:
        hanging.bind(("127.0.0.1", port))
        hanging.listen()
        first = start_serve(tmp_path, db, name="first", env=env)
        try:
            sent = httpx.post(
                f"{first.base}{ALIYUN_PATH}",
                params={"token": CALLBACK_TOKEN},
                content=dumps(SAMPLE),
            )
            assert sent.json() == {"status": "accepted"}
            [claimed] = wait_for(
                lambda: [f for f in forwards(first.base) if f["state"] == "sending"],
                what="the forward in flight",
            )
        finally:
            first.stop(signal.SIGKILL)
    assert claimed["attempts"] == 1
    with consumer.serve(port=port):
        # The dead run's lease (25 s) has not ended: the restart releases its claim at once.
        second = start_serve(tmp_path, db, name="second", env=env)
        try:
            [delivery] = wait_for(consumer.accepted, timeout=10, what="delivery after restart")
            assert delivery.body == dumps(SAMPLE) and delivery.verified
            assert delivery.headers["x-relaywarden-attempt"] == "2"
        finally:
            second.stop()
    assert SECRET not in first.stdout.read_text() + second.stdout.read_text()


def test_backoff_doubles_and_is_capped() -> None:
    assert [backoff_ms(0.5, n) for n in (1, 2, 3, 4)] == [500, 1000, 2000, 4000]
    assert backoff_ms(1.0, 40) == 3_600_000


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"RELAYWARDEN_FORWARD_URL": "ftp://x"}, "RELAYWARDEN_FORWARD_URL"),
        ({"RELAYWARDEN_FORWARD_URL": "https://c.example/hook"}, "RELAYWARDEN_FORWARD_SECRET"),
        (
            {"RELAYWARDEN_FORWARD_URL": "https://c.example/h", "RELAYWARDEN_FORWARD_SECRET": "x"},
            "at least 16",
        ),
        ({"RELAYWARDEN_FORWARD_TIMEOUT_SECONDS": "0"}, "RELAYWARDEN_FORWARD_TIMEOUT_SECONDS"),
    ],
)
def test_forward_settings_are_checked(env: dict[str, str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        Settings.from_env(env)
