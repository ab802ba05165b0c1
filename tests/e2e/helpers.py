"""Small helpers shared by the end-to-end tests (on top of ``tests/e2e/conftest.py``)."""

from __future__ import annotations

import re
import time
from typing import Any

from tests.e2e.conftest import Stack, wait_for


def end_time(seconds: float = 7200) -> str:
    """A provider time ``seconds`` from now."""
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + seconds))


def task_params(name: str, callback_url: str, *, region: str = "cn-shanghai") -> dict[str, Any]:
    """CreateLivePullToPush parameters for a task made by some other tool."""
    return {
        "Region": region,
        "TaskName": name,
        "SourceType": "live",
        "SourceProtocol": "rtmp",
        "SourceUrls": [f"rtmp://src.example.com/app/{name}"],
        "DstUrl": f"rtmp://push.example.com/app/{name}",
        "StartTime": end_time(-5),
        "EndTime": end_time(),
        "CallbackUrl": callback_url,
        "RetryCount": 3,
        "RetryInterval": 60,
    }


def live_tasks(stack: Stack, dst_url: str) -> list[str]:
    """Task ids at the fake provider that are alive (not deleted, not exited) for a DstUrl."""
    return [
        t.task_id
        for t in stack.aliyun.tasks
        if t.dst_url == dst_url and not t.deleted and t.status != -1
    ]


def relays(stack: Stack) -> list[dict[str, Any]]:
    response = stack.http.get("/api/relays", params={"limit": "500"})
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


def relay_of_task(stack: Stack, task_id: str) -> dict[str, Any] | None:
    """The relay that names ``task_id`` (through the task API), or None."""
    response = stack.http.get(f"/api/tasks/aliyun/{task_id}")
    if response.status_code != 200 or not response.json().get("relay_id"):
        return None
    return stack.relay(response.json()["relay_id"])


def wait_relay(stack: Stack, relay_id: str, what: str, **expected: Any) -> dict[str, Any]:
    """Wait until the relay's fields equal ``expected``; return it."""

    def check() -> dict[str, Any] | None:
        relay = stack.relay(relay_id)
        return relay if all(relay.get(k) == v for k, v in expected.items()) else None

    return wait_for(check, what=what)


def declare(stack: Stack, body: dict[str, Any]) -> str:
    response = stack.http.post("/api/relays", json=body)
    assert response.status_code == 202, response.text
    relay_id: str = response.json()["id"]
    return relay_id


def jobs_of(stack: Stack, relay_id: str, action: str | None = None) -> list[dict[str, Any]]:
    return [
        j
        for j in stack.jobs()
        if j["relay_id"] == relay_id and (action is None or j["action"] == action)
    ]


def metric_value(stack: Stack, name: str, **labels: str) -> float:
    """One sample of ``/metrics`` (0 when the series is absent)."""
    text = stack.http.get("/metrics").text
    for line in text.splitlines():
        match = re.fullmatch(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)", line)
        if match is None or match[1] != name:
            continue
        found = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', match[2] or ""))
        if found == labels:
            return float(match[3])
    return 0.0
