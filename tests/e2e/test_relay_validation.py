"""Relay specs the provider would refuse are answered 400 up front, every problem listed,
and no provider is called (instead of a 202 that later dies as a job)."""

from __future__ import annotations

from tests.e2e.conftest import Stack, relay_body
from tests.e2e.helpers import declare, wait_relay


def test_a_spec_the_provider_would_refuse_is_400_with_every_problem(stack: Stack) -> None:
    body = relay_body("refused")
    body["pull_to_push"].update(
        Region="eu-central-1",
        SourceProtocol="rtsp",
        RetryInterval=30,
        DstUrl="http://push.example.com/app/refused",
    )
    response = stack.http.post("/api/relays", json=body)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_relay"
    for words in ("Region must be one of", "SourceProtocol must be", "RetryInterval", "DstUrl"):
        assert words in error["message"], error["message"]
    assert set(response.json()) == {"error"}
    assert stack.http.get("/api/relays").json()["items"] == []
    assert stack.jobs() == []
    assert not stack.aliyun.calls

    # Control: the same spec with the documented values is accepted and created.
    good = relay_body("accepted")
    relay_id = declare(stack, good)
    wait_relay(stack, relay_id, "created", state="active")
    assert len(stack.aliyun.calls_for("CreateLivePullToPush")) == 1
