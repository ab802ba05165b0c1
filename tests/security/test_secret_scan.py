"""Every secret, in every form, against every log line and response of an end-to-end run.

``relaywarden serve`` runs as a process against the fake providers; the run creates a task
(whose CallbackUrl carries a per-relay token), receives its callbacks, starts a TRTC ingest
(with a UserSig), meets a provider error that quotes a token, and is probed with a
WebSocket upgrade carrying the token. Then stdout, stderr (but for the start-up banner, the
one place the callback token is shown on purpose) and every response body are scanned for
each secret raw, percent-encoded once and twice, and form-encoded.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from receiver.auth import relay_callback_token
from receiver.redaction import encoded_forms, mask_text
from tests.e2e.conftest import INGEST_PARAMS, relay_body, wait_for
from tests.fakes.aliyun_live import FakeAliyunLive
from tests.fakes.common import ErrorFault
from tests.fakes.trtc import FakeTrtc
from tests.receiver.helpers import CALLBACK_TOKEN, Process, start_serve

ADMIN_TOKEN = "admin-9d4e1f0c77b2a6"
TRTC_CALLBACK_KEY = "trtc-callback-key-51aa0e"
#: Signed URL parameters of a declared relay's DstUrl and SourceUrls.
DST_AUTH_KEY = "1767225600-0-0-8f14e45fceea167a5a36dedd4bea2543"
SOURCE_TOKEN = "src-token-6c2d90e1b7"


class Run:
    """The served process, its fakes, and every response body it gave."""

    def __init__(self, process: Process, aliyun: FakeAliyunLive, trtc: FakeTrtc) -> None:
        self.process = process
        self.aliyun = aliyun
        self.trtc = trtc
        self.bodies: list[tuple[str, str]] = []
        self.http = httpx.Client(
            base_url=process.base,
            timeout=10,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            event_hooks={"response": [self._keep]},
        )

    def _keep(self, response: httpx.Response) -> None:
        response.read()
        self.bodies.append((str(response.request.url.path), response.text))

    def get(self, path: str, **params: str) -> Any:
        response = self.http.get(path, params=params)
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def run(tmp_path: Path) -> Iterator[Run]:
    aliyun = FakeAliyunLive(hang_seconds=2.0)
    trtc = FakeTrtc(hang_seconds=2.0)
    with aliyun.serve() as aliyun_url, trtc.serve() as trtc_url:
        process = start_serve(
            tmp_path,
            tmp_path / "x.db",
            RELAYWARDEN_ADMIN_TOKEN=ADMIN_TOKEN,
            RELAYWARDEN_TRTC_CALLBACK_KEY=TRTC_CALLBACK_KEY,
            RELAYWARDEN_ALIYUN_LIVE_ENDPOINT=aliyun_url,
            RELAYWARDEN_ALIYUN_ACCESS_KEY_ID=aliyun.access_key_id,
            RELAYWARDEN_ALIYUN_ACCESS_KEY_SECRET=aliyun.access_key_secret,
            RELAYWARDEN_TRTC_ENDPOINT=trtc_url,
            RELAYWARDEN_TENCENT_SECRET_ID=trtc.secret_id,
            RELAYWARDEN_TENCENT_SECRET_KEY=trtc.secret_key,
            RELAYWARDEN_JOB_BACKOFF_SECONDS="0.05",
        )
        result = Run(process, aliyun, trtc)
        try:
            yield result
        finally:
            result.http.close()
            process.stop()


def _exercise(run: Run) -> tuple[str, str]:
    """Drive the run through every path that once leaked; return (relay id, task id)."""
    # A provider error that quotes the callback token in prose, then succeeds on retry.
    run.aliyun.inject(
        "CreateLivePullToPush",
        ErrorFault(503, "ServiceUnavailable", f"could not reach token {CALLBACK_TOKEN} yet"),
    )
    body = relay_body("scan", trtc_ingest=INGEST_PARAMS)
    body["pull_to_push"]["DstUrl"] += f"?auth_key={DST_AUTH_KEY}"
    body["pull_to_push"]["SourceUrls"] = [f"rtmp://src.example.com/app/scan?token={SOURCE_TOKEN}"]
    declared = run.http.post("/api/relays", json=body)
    assert declared.status_code == 202, declared.text
    relay_id = declared.json()["id"]

    def created() -> str | None:
        task: str | None = run.get(f"/api/relays/{relay_id}").get("current_task_id")
        return task

    task_id = wait_for(created, what="the task to be created")
    # The provider's callbacks go to the CallbackUrl with the per-relay token.
    status = run.aliyun.set_task_status(task_id, 1)
    assert run.aliyun.post_callback(task_id, status).status_code == 200
    wait_for(lambda: run.trtc.tasks, what="the TRTC ingest to start")
    # A WebSocket upgrade with the token in its query string.
    upgrade = httpx.get(
        f"{run.process.base}/callbacks/aliyun/pull-to-push",
        params={"token": CALLBACK_TOKEN},
        headers={
            "Connection": "Upgrade",
            "Upgrade": "websocket",
            "Sec-WebSocket-Version": "13",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
        },
    )
    assert upgrade.status_code in (403, 404, 405)
    # A callback about the task through the main token, naming the relay (full authority),
    # and one through the per-relay URL for a task it does not cover (401).
    main_url = f"{run.process.base}/callbacks/aliyun/pull-to-push?token={CALLBACK_TOKEN}"
    assert run.aliyun.post_callback(task_id, status, url=main_url).status_code == 200
    own_url = run.aliyun.task(task_id).callback_url
    other = {**status, "TaskId": "task-of-nobody", "EventTime": str(int(status["EventTime"]) + 1)}
    assert run.aliyun.post_callback(task_id, other, url=own_url).status_code == 401
    for path in (
        "/api/relays",
        "/api/jobs",
        "/api/tasks",
        "/api/unrecognized",
        "/api/events",
        "/api/orphans",
        "/metrics",
    ):
        run.http.get(path, params={"limit": "500"} if path.startswith("/api") else None)
    run.get(f"/api/relays/{relay_id}")
    run.get("/api/events", task=task_id)
    return relay_id, task_id


def _secrets(relay_id: str, fakes: tuple[FakeAliyunLive, FakeTrtc]) -> dict[str, set[str]]:
    aliyun, trtc = fakes
    raw = {
        "callback token": CALLBACK_TOKEN,
        "per-relay token": relay_callback_token(CALLBACK_TOKEN, relay_id),
        "admin token": ADMIN_TOKEN,
        "Alibaba AccessKey secret": aliyun.access_key_secret,
        "Tencent SecretKey": trtc.secret_key,
        "TRTC callback key": TRTC_CALLBACK_KEY,
        "UserSig": str(INGEST_PARAMS["UserSig"]),
        "DstUrl auth_key": DST_AUTH_KEY,
        "SourceUrl token": SOURCE_TOKEN,
    }
    return {name: encoded_forms(value) for name, value in raw.items()}


def _leaks(text: str, secrets: dict[str, set[str]]) -> list[str]:
    return sorted(name for name, forms in secrets.items() if any(f in text for f in forms))


def test_no_secret_in_any_log_line_or_response(run: Run) -> None:
    relay_id, task_id = _exercise(run)
    view = run.get(f"/api/tasks/aliyun/{task_id}")
    run.process.stop()
    secrets = _secrets(relay_id, (run.aliyun, run.trtc))

    stdout = run.process.stdout.read_text()
    lines = [line for line in stdout.splitlines() if line.strip()]
    assert any(json.loads(line).get("event") == "job_retry" for line in lines)
    leaks = {f"log line {n}": _leaks(line, secrets) for n, line in enumerate(lines)}
    stderr = run.process.stderr.read_text().splitlines()
    banner = [line for line in stderr if "Register these callback URLs" in line]
    assert banner, "the start-up banner is missing"
    for n, line in enumerate(stderr):
        if line.strip().startswith(f"{run.process.base}/callbacks/aliyun/pull-to-push?token="):
            continue  # the banner's CallbackUrl: shown on purpose, once
        leaks[f"stderr line {n}"] = _leaks(line, secrets)
    # Every response as served, the task view's raw bodies included.
    assert any(path.startswith("/api/tasks/aliyun/") for path, _ in run.bodies)
    assert view["events"] and any("token=***" in event["raw"] for event in view["events"])
    for n, (path, body) in enumerate(run.bodies):
        leaks[f"response {n} of {path}"] = _leaks(body, secrets)
    found = {where: names for where, names in leaks.items() if names}
    assert found == {}


def test_raw_bodies_are_masked_by_mask_text(run: Run) -> None:
    """The provider's TaskInfo.CallbackURL carries the per-relay token into stored bodies;
    the task view serves them through mask_text, keys intact."""
    relay_id, task_id = _exercise(run)
    view = run.get(f"/api/tasks/aliyun/{task_id}")
    secrets = _secrets(relay_id, (run.aliyun, run.trtc))
    raws = [event["raw"] for event in view["events"]]
    assert any("token=***" in raw for raw in raws)
    for raw in raws:
        clean = mask_text(raw)
        assert _leaks(clean, secrets) == []
        # Still the same JSON document with the same keys: only values are masked.
        assert json.loads(clean).keys() == json.loads(raw).keys()


def test_task_view_serves_masked_raw_bodies(run: Run) -> None:
    relay_id, task_id = _exercise(run)
    view = run.get(f"/api/tasks/aliyun/{task_id}")
    secrets = _secrets(relay_id, (run.aliyun, run.trtc))
    assert [_leaks(event["raw"], secrets) for event in view["events"]] == [
        [] for _ in view["events"]
    ]
