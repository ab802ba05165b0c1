"""`relaywarden serve` logs: JSON lines on stdout, one per callback, and no secrets."""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import httpx

from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    TRTC_PATH,
    aliyun_status,
    dumps,
    sign,
    start_serve,
    trtc_ingest,
)

TRTC_SECRET = "trtc-secret-key-31f9c0aa"
ADMIN_SECRET = "admin-secret-7ab0c2e4d1"
#: Keep the job runner off the network: nothing listens on port 9.
OFFLINE: dict[str, Any] = {
    "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": "http://127.0.0.1:9",
    "RELAYWARDEN_TRTC_ENDPOINT": "http://127.0.0.1:9",
}


def test_callback_log_lines_and_secrets(tmp_path: Path) -> None:
    process = start_serve(
        tmp_path,
        tmp_path / "x.db",
        RELAYWARDEN_TRTC_CALLBACK_KEY=TRTC_SECRET,
        RELAYWARDEN_ADMIN_TOKEN=ADMIN_SECRET,
        **OFFLINE,
    )
    try:
        with httpx.Client(base_url=process.base, timeout=10) as client:
            good = {"token": CALLBACK_TOKEN}
            body = dumps(aliyun_status("log-task/1", 1, 1725501000))
            statuses = [
                client.post(ALIYUN_PATH, params=good, content=body).status_code,
                client.post(ALIYUN_PATH, params=good, content=body).status_code,
                client.post(ALIYUN_PATH, params={"token": "wrong"}, content=body).status_code,
                client.post(ALIYUN_PATH, params=good, content=b"not json").status_code,
                client.post(ALIYUN_PATH, params=good, content=b'{"x": 1}').status_code,
            ]
            trtc = trtc_ingest("ingest-7", 701, 0, 1701937900013)
            statuses.append(
                client.post(
                    TRTC_PATH, content=trtc, headers={"Sign": sign(TRTC_SECRET, trtc)}
                ).status_code
            )
            statuses.append(
                client.post(TRTC_PATH, content=trtc, headers={"Sign": "forged"}).status_code
            )
            # Secrets in query strings of other routes never reach the access log.
            admin = {"Authorization": f"Bearer {ADMIN_SECRET}"}
            statuses.append(
                client.get(
                    "/api/tasks", params={"token": CALLBACK_TOKEN}, headers=admin
                ).status_code
            )
            statuses.append(client.get("/nope", params={"token": CALLBACK_TOKEN}).status_code)
            assert statuses == [200, 200, 401, 400, 202, 200, 401, 200, 404]
    finally:
        process.stop()
    # uvicorn re-raises SIGTERM after its graceful shutdown.
    assert process.popen.returncode in (0, -signal.SIGTERM)

    stdout = process.stdout.read_text()
    stderr = process.stderr.read_text()
    lines: list[dict[str, Any]] = [json.loads(line) for line in stdout.splitlines() if line]
    callbacks = [line for line in lines if line.get("event") == "callback"]
    assert len(callbacks) == 7
    for line in callbacks:
        assert {
            "source",
            "task_id",
            "outcome",
            "duration_ms",
            "status",
            "level",
            "timestamp",
        } <= set(line), line
        assert isinstance(line["duration_ms"], int | float) and line["duration_ms"] >= 0
    summary = [(c["source"], c["outcome"], c["task_id"]) for c in callbacks]
    assert summary == [
        ("aliyun_pull_to_push", "accepted", "log-task/1"),
        ("aliyun_pull_to_push", "duplicate", "log-task/1"),
        ("aliyun_pull_to_push", "unauthorized", None),
        ("aliyun_pull_to_push", "malformed", None),
        ("aliyun_pull_to_push", "unrecognized", None),
        ("trtc", "accepted", "ingest-7"),
        ("trtc", "unauthorized", None),
    ]
    access = [line for line in lines if line.get("event") == "http_request"]
    assert {(a["path"], a["status"]) for a in access} >= {("/api/tasks", 200), ("/nope", 404)}
    assert any(line.get("event") == "started" for line in lines)
    assert any(line.get("event") == "stopped" for line in lines)  # graceful shutdown

    # Secrets: a configured callback token is never printed (`token show` prints it);
    # the banner names every source's URL and warns that loopback is unreachable.
    for secret in (CALLBACK_TOKEN, TRTC_SECRET, ADMIN_SECRET):
        assert secret not in stdout and secret not in stderr
    assert "Register these callback URLs" in stderr
    assert f"{process.base}{ALIYUN_PATH}?token=<callback-token>" in stderr
    assert f"{process.base}/callbacks/trtc" in stderr
    assert f"{process.base}/callbacks/tencent/pull-to-push?token=" in stderr
    assert "WARNING: the callback URLs point at 127.0.0.1" in stderr


def _serve_and_probe(tmp_path: Path, name: str, **env: str) -> list[str]:
    """Start ``serve``, send probes, a scrape and one API request; its stdout lines."""
    process = start_serve(tmp_path, tmp_path / f"{name}.db", name=name, env={**OFFLINE, **env})
    try:
        with httpx.Client(base_url=process.base, timeout=10) as client:
            for path in ("/healthz", "/readyz", "/metrics", "/api/tasks"):
                assert client.get(path).status_code == 200
    finally:
        process.stop()
    return [line for line in process.stdout.read_text().splitlines() if line]


def test_probes_log_at_debug_and_uvicorn_lines_share_the_json_format(tmp_path: Path) -> None:
    lines = _serve_and_probe(tmp_path, "info")
    parsed = [json.loads(line) for line in lines]
    # One encoding for every line: ours and uvicorn's (compact, same key spelling).
    for raw, line in zip(lines, parsed, strict=True):
        assert raw == json.dumps(line, separators=(",", ":"), ensure_ascii=False)
        assert {"event", "level", "timestamp"} <= set(line)
    uvicorn = [line for line in parsed if line.get("logger", "").startswith("uvicorn")]
    assert any(line["event"].startswith("Uvicorn running on") for line in uvicorn)
    requests = [line["path"] for line in parsed if line["event"] == "http_request"]
    assert requests == ["/api/tasks"]  # probes and the scrape stay out at info

    debug = [
        json.loads(line)
        for line in _serve_and_probe(tmp_path, "debug", RELAYWARDEN_LOG_LEVEL="debug")
    ]
    probes = {line["path"]: line["level"] for line in debug if line["event"] == "http_request"}
    assert probes == {
        "/healthz": "debug",
        "/readyz": "debug",
        "/metrics": "debug",
        "/api/tasks": "info",
    }
