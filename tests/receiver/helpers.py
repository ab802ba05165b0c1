"""Shared helpers of the receiver tests: bodies, a running server handle, DB inspection."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from receiver.app import create_app
from receiver.config import Settings, is_postgres_url
from receiver.runtime import Runtime
from receiver.store.base import Planner
from tests.support.database import db_query
from tests.support.servers import free_port, serve_in_thread

CALLBACK_TOKEN = "cb-token-5f2c9a17e04b"
TRTC_KEY = "trtc-key-0d1e2f"
ALIYUN_PATH = "/callbacks/aliyun/pull-to-push"
TRTC_PATH = "/callbacks/trtc"
TENCENT_PATH = "/callbacks/tencent/pull-to-push"
RELAYWARDEN = Path(sys.executable).with_name("relaywarden")

#: The start of Alibaba's documented sample, as sent.
SAMPLE_TASK_ID = "08a1b00c-9c2f-4dfa-9f5d-878f2505****"
SAMPLE = {
    "Event": "LivePullToPushRuning",
    "EventTime": "1725501246",
    "TaskId": SAMPLE_TASK_ID,
    "TaskInfo": {"TaskId": "08a1b00c-9c2f-4dfa-9f5d-878f250****", "StartTime": "..."},
    "TaskStatus": "1",
}


def dumps(value: Any) -> bytes:
    return json.dumps(value).encode()


def aliyun_status(
    task_id: str,
    status: int | str,
    event_time: float | str,
    *,
    reason: str | None = None,
    event: str = "LivePullToPushRunning",
) -> dict[str, Any]:
    """An Alibaba status-change callback body."""
    body: dict[str, Any] = {
        "Event": event,
        "EventTime": event_time,
        "TaskId": task_id,
        "TaskInfo": {"TaskId": task_id, "DstUrl": f"rtmp://push.example.com/app/{task_id}"},
        "TaskStatus": status,
    }
    if reason is not None:
        body["TaskInvalidReason"] = reason
    return body


def trtc_ingest(
    task_id: str, event_type: int, status: int, event_ms: int | str, *, group: int = 7
) -> bytes:
    """A TRTC stream-ingest callback, serialized as TRTC does (compact JSON)."""
    return json.dumps(
        {
            "EventGroupId": group,
            "EventType": event_type,
            "CallbackMsTs": 1701937900012,
            "EventInfo": {"EventMsTs": event_ms, "TaskId": task_id, "Status": status},
        },
        separators=(",", ":"),
    ).encode()


def sign(key: str, body: bytes) -> str:
    """TRTC ``Sign`` computed independently of ``receiver.auth``."""
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def task_path(provider: str, task_id: str) -> str:
    return f"/api/tasks/{provider}/{quote(task_id, safe='')}"


def db_counts(db: Path | str) -> dict[str, int]:
    """Row counts of the tables a callback may write, read from the database directly."""
    return {
        table: int(db_query(db, f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])
        for table in ("events", "tasks", "jobs", "unrecognized")
    }


def db_rows(db: Path | str, sql: str, params: tuple[Any, ...] = ()) -> list[dict[str, Any]]:
    """Rows of ``sql`` as dicts (a SQLite file path or a database URL)."""
    return db_query(db, sql, params)


def assert_error_shape(response: httpx.Response, status: int, code: str | None = None) -> None:
    """The uniform error body: ``{"error": {"code", "message"}}``."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message"}
    assert isinstance(body["error"]["code"], str)
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    if code is not None:
        assert body["error"]["code"] == code


@dataclass
class Server:
    """A relaywarden app served by real uvicorn on loopback, with its SQLite file."""

    base: str
    client: httpx.Client
    runtime: Runtime
    db: Path | str
    """The SQLite file, or the PostgreSQL URL."""
    settings: Settings
    admin_headers: dict[str, str] = field(default_factory=dict)

    def aliyun(
        self, body: bytes | dict[str, Any], *, token: str | None = CALLBACK_TOKEN, **params: str
    ) -> httpx.Response:
        content = body if isinstance(body, bytes) else dumps(body)
        query = dict(params)
        if token is not None:
            query["token"] = token
        return self.client.post(ALIYUN_PATH, params=query, content=content)

    def trtc(self, body: bytes, *, sign_with: str | None = TRTC_KEY) -> httpx.Response:
        headers = {"SdkAppId": "1400000000", "Content-Type": "application/json"}
        if sign_with is not None:
            headers["Sign"] = sign(sign_with, body)
        return self.client.post(TRTC_PATH, content=body, headers=headers)

    def api(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.admin_headers, **kwargs.pop("headers", {})}
        return self.client.request(method, path, headers=headers, **kwargs)

    def task(self, provider: str, task_id: str) -> dict[str, Any]:
        response = self.api("GET", task_path(provider, task_id))
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    def counts(self) -> dict[str, int]:
        return db_counts(self.db)


@contextlib.contextmanager
def running_server(
    tmp_path: Path, *, planner: Planner | None = None, **overrides: Any
) -> Iterator[Server]:
    """Start ``create_app`` under uvicorn on 127.0.0.1 with a SQLite file in ``tmp_path``."""
    db = tmp_path / "relaywarden.db"
    port = free_port()
    values: dict[str, Any] = {
        "port": port,  # so that the CallbackUrl relaywarden builds is this server's
        "database_url": f"sqlite:///{db}",
        "callback_token": CALLBACK_TOKEN,
        "trtc_callback_key": TRTC_KEY,
    }
    values.update(overrides)
    settings = Settings(**values)
    app = create_app(settings, planner=planner)
    with serve_in_thread(app, port=port) as base, httpx.Client(base_url=base, timeout=30) as client:
        admin = {"Authorization": f"Bearer {settings.admin_token}"} if settings.admin_token else {}
        yield Server(
            base=base,
            client=client,
            runtime=app.state.runtime,
            db=settings.database_url if is_postgres_url(settings.database_url) else db,
            settings=settings,
            admin_headers=admin,
        )


# --- `relaywarden serve` as a separate process -------------------------------------------


@dataclass
class Process:
    """A ``relaywarden serve`` subprocess with its output files."""

    popen: subprocess.Popen[bytes]
    base: str
    stdout: Path
    stderr: Path

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(sig)
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=15)


def serve_env(db: Path, port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    env.update(
        RELAYWARDEN_PORT=str(port),
        RELAYWARDEN_DATABASE_URL=f"sqlite:///{db}",
        RELAYWARDEN_CALLBACK_TOKEN=CALLBACK_TOKEN,
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def start_serve(
    tmp_path: Path,
    db: Path,
    *,
    name: str = "serve",
    timeout: float = 20.0,
    env: Mapping[str, str] | None = None,
    **more_env: str,
) -> Process:
    """Run ``relaywarden serve`` (the console script) and wait until /healthz answers."""
    port = free_port()
    stdout = tmp_path / f"{name}.stdout"
    stderr = tmp_path / f"{name}.stderr"
    with stdout.open("wb") as out, stderr.open("wb") as err:
        popen = subprocess.Popen(
            [str(RELAYWARDEN), "serve"],
            env=serve_env(db, port, **{**(env or {}), **more_env}),
            stdout=out,
            stderr=err,
            cwd=tmp_path,
        )
    process = Process(popen=popen, base=f"http://127.0.0.1:{port}", stdout=stdout, stderr=stderr)
    deadline = time.monotonic() + timeout
    while True:
        if popen.poll() is not None:
            raise AssertionError(
                f"relaywarden serve exited with {popen.returncode}: {stderr.read_text()}"
            )
        try:
            if httpx.get(f"{process.base}/healthz", timeout=1).status_code == 200:
                return process
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            process.stop(signal.SIGKILL)
            raise AssertionError(f"relaywarden serve did not start: {stderr.read_text()}")
        time.sleep(0.05)
