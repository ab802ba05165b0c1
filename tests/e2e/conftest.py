"""End-to-end fixtures: relaywarden under real uvicorn, fake providers on loopback sockets."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest

from receiver.assembly import build_app
from receiver.config import Settings
from receiver.runtime import Runtime
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.trtc import FakeTrtc
from tests.support.servers import serve_in_thread

T = TypeVar("T")

CALLBACK_TOKEN = "e2e-callback-token"
TRTC_CALLBACK_KEY = "e2e-trtc-key"


def wait_for(
    predicate: Callable[[], T | None], *, timeout: float = 15.0, what: str = "condition"
) -> T:
    """Poll ``predicate`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


@dataclass
class Stack:
    """relaywarden plus both fake providers, all serving on loopback."""

    url: str
    runtime: Runtime
    aliyun: FakeAliyunLive
    trtc: FakeTrtc
    http: httpx.Client
    extra: dict[str, Any] = field(default_factory=dict)

    def relay(self, relay_id: str) -> dict[str, Any]:
        response = self.http.get(f"/api/relays/{relay_id}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def jobs(self, state: str | None = None) -> list[dict[str, Any]]:
        params = {"limit": "500", **({"state": state} if state else {})}
        response = self.http.get("/api/jobs", params=params)
        assert response.status_code == 200, response.text
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def wait_jobs_settled(self, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Wait until no job is pending or running; return all jobs."""

        def settled() -> list[dict[str, Any]] | None:
            jobs = self.jobs()
            busy = [j for j in jobs if j["state"] in ("pending", "running")]
            return None if busy else (jobs or [{"none": True}])

        return wait_for(settled, timeout=timeout, what="jobs to settle")

    def callback(self, task_id: str, body: dict[str, Any] | None = None) -> httpx.Response:
        """Deliver the fake's callback for a task to the CallbackURL it was created with."""
        return self.aliyun.post_callback(task_id, body)

    def registered_callback_url(self) -> str:
        return f"{self.url}/callbacks/aliyun/pull-to-push?token={CALLBACK_TOKEN}"


def make_settings(tmp_path: Path, aliyun_url: str, trtc_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": f"sqlite:///{tmp_path / 'relaywarden.db'}",
        "callback_token": CALLBACK_TOKEN,
        "trtc_callback_key": TRTC_CALLBACK_KEY,
        "aliyun_live_endpoint": aliyun_url,
        "trtc_endpoint": trtc_url,
        "job_backoff_seconds": 0.05,
        "job_lease_seconds": 30,
    }
    values.update(overrides)
    return Settings(**values)


@pytest.fixture
def stack_factory(tmp_path: Path) -> Iterator[Callable[..., Stack]]:
    """Build a stack with settings overrides (credentials on by default)."""
    started: list[Any] = []

    def build(
        *,
        credentials: bool = True,
        aliyun_qps: int | None = 10,
        aliyun: FakeAliyunLive | None = None,
        **overrides: Any,
    ) -> Stack:
        """``aliyun``: the fake Live OpenAPI to serve (a pull-to-push-only one by default)."""
        aliyun = aliyun or FakeAliyunLive(qps=aliyun_qps, hang_seconds=5.0)
        trtc = FakeTrtc(hang_seconds=5.0)
        aliyun_cm = aliyun.serve()
        aliyun_url = aliyun_cm.__enter__()
        started.append(aliyun_cm)
        trtc_cm = trtc.serve()
        trtc_url = trtc_cm.__enter__()
        started.append(trtc_cm)
        if credentials:
            overrides.setdefault("aliyun_access_key_id", aliyun.access_key_id)
            overrides.setdefault("aliyun_access_key_secret", aliyun.access_key_secret)
            overrides.setdefault("tencent_secret_id", trtc.secret_id)
            overrides.setdefault("tencent_secret_key", trtc.secret_key)
        from tests.support.servers import free_port

        port = free_port()
        overrides.setdefault("port", port)
        # Each stack of a test gets its own store: one file has one writer process.
        store_dir = tmp_path / f"stack-{len(started)}"
        store_dir.mkdir()
        settings = make_settings(store_dir, aliyun_url, trtc_url, **overrides)
        app = build_app(settings, banner=False)
        server_cm = serve_in_thread(app, port=port)
        url = server_cm.__enter__()
        started.append(server_cm)
        http = httpx.Client(base_url=url, timeout=10.0)
        started.append(http)
        return Stack(url=url, runtime=app.state.runtime, aliyun=aliyun, trtc=trtc, http=http)

    yield build
    for item in reversed(started):
        if isinstance(item, httpx.Client):
            item.close()
        else:
            item.__exit__(None, None, None)


@pytest.fixture
def stack(stack_factory: Callable[..., Stack]) -> Stack:
    return stack_factory()


def relay_body(name: str = "final-match", **extra: Any) -> dict[str, Any]:
    """A typical relay declaration, ending in two hours."""
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7200))
    body: dict[str, Any] = {
        "name": name,
        "pull_to_push": {
            "Region": "cn-shanghai",
            "SourceType": "live",
            "SourceProtocol": "rtmp",
            "SourceUrls": [f"rtmp://src.example.com/app/{name}"],
            "DstUrl": f"rtmp://push.example.com/app/{name}",
            "EndTime": end,
            "RetryCount": 3,
            "RetryInterval": 60,
        },
        "recreate": {
            "max_attempts": 5,
            "within_seconds": 3600,
            "min_remaining_seconds": 60,
            "base_delay_seconds": 0.1,
        },
    }
    body.update(extra)
    return body


INGEST_PARAMS = {
    "SdkAppId": 1400000000,
    "RoomId": "room-1",
    "RoomIdType": 0,
    "UserId": "relay-bot",
    "UserSig": "secret-user-sig-value",
    "StreamUrl": "https://play.example.com/app/stream.flv",
}
