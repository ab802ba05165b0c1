"""Liveness, readiness and the Prometheus metrics of the callback path."""

from __future__ import annotations

from prometheus_client.parser import text_string_to_metric_families

from receiver.store.sqlite import SqliteStore
from tests.receiver.helpers import (
    CALLBACK_TOKEN,
    SAMPLE,
    Server,
    aliyun_status,
    assert_error_shape,
    trtc_ingest,
)

Labels = tuple[tuple[str, str], ...]


def scrape(server: Server) -> dict[str, dict[Labels, float]]:
    """Every sample of /metrics, by sample name and sorted labels."""
    response = server.client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples: dict[str, dict[Labels, float]] = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            key = tuple(sorted(sample.labels.items()))
            samples.setdefault(sample.name, {})[key] = sample.value
    return samples


def value(samples: dict[str, dict[Labels, float]], name: str, **labels: str) -> float:
    return samples.get(name, {}).get(tuple(sorted(labels.items())), 0.0)


def test_healthz(server: Server) -> None:
    response = server.client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_readyz_follows_the_store_writer(server: Server) -> None:
    response = server.client.get("/readyz")
    assert response.status_code == 200
    assert response.json() == {"status": "ready"}
    before = scrape(server)

    store = server.runtime.store
    assert isinstance(store, SqliteStore)
    store.writer.stop()

    response = server.client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "unavailable"
    assert any("writer" in problem for problem in body["problems"])
    # The process is alive; callbacks are refused with 503 so that providers retry.
    assert server.client.get("/healthz").status_code == 200
    assert_error_shape(server.aliyun(SAMPLE), 503, "store_unavailable")
    assert_error_shape(server.aliyun(b"not json"), 503, "store_unavailable")
    after = scrape(server)
    name = "relaywarden_callbacks_total"
    labels = {"source": "aliyun_pull_to_push", "outcome": "unavailable"}
    assert value(after, name, **labels) - value(before, name, **labels) == 2


def test_metrics_count_callbacks_by_source_and_outcome(server: Server) -> None:
    before = scrape(server)
    traffic = {
        ("aliyun_pull_to_push", "accepted"): 0,
        ("aliyun_pull_to_push", "duplicate"): 0,
        ("aliyun_pull_to_push", "unauthorized"): 0,
        ("aliyun_pull_to_push", "malformed"): 0,
        ("aliyun_pull_to_push", "unrecognized"): 0,
        ("aliyun_pull_to_push", "too_large"): 0,
        ("trtc", "accepted"): 0,
        ("trtc", "unauthorized"): 0,
        ("trtc", "unrecognized"): 0,
    }

    def expect(source: str, outcome: str, status: int, response_status: int) -> None:
        assert response_status == status
        traffic[(source, outcome)] += 1

    aliyun = "aliyun_pull_to_push"
    expect(aliyun, "accepted", 200, server.aliyun(aliyun_status("m1", 1, 100)).status_code)
    expect(aliyun, "accepted", 200, server.aliyun(aliyun_status("m1", 2, 200)).status_code)
    expect(
        aliyun,
        "accepted",
        200,
        server.aliyun(aliyun_status("m1", 3, 300, reason="PullStreamFailed")).status_code,
    )
    expect(
        aliyun,
        "accepted",
        200,
        server.aliyun(aliyun_status("m2", 3, 300, reason="BrandNewReason")).status_code,
    )
    expect(aliyun, "accepted", 200, server.aliyun(aliyun_status("m1", 1, 150)).status_code)
    expect(aliyun, "duplicate", 200, server.aliyun(aliyun_status("m1", 1, 100)).status_code)
    expect(aliyun, "unauthorized", 401, server.aliyun(SAMPLE, token="nope").status_code)
    expect(aliyun, "malformed", 400, server.aliyun(b"{").status_code)
    expect(aliyun, "unrecognized", 202, server.aliyun({"a": 1}).status_code)
    expect(aliyun, "too_large", 413, server.aliyun(b" " * (1024 * 1024 + 1)).status_code)
    expect("trtc", "accepted", 200, server.trtc(trtc_ingest("i", 701, 0, 1000)).status_code)
    expect("trtc", "accepted", 200, server.trtc(trtc_ingest("i", 702, 0, 2000)).status_code)
    expect("trtc", "unauthorized", 401, server.trtc(b"{}", sign_with="other").status_code)
    expect(
        "trtc", "unrecognized", 202, server.trtc(trtc_ingest("i", 701, 0, 1, group=3)).status_code
    )

    after = scrape(server)
    for (source, outcome), count in traffic.items():
        labels = {"source": source, "outcome": outcome}
        delta = value(after, "relaywarden_callbacks_total", **labels) - value(
            before, "relaywarden_callbacks_total", **labels
        )
        assert delta == count, (source, outcome)
    # Known label values are exported even at zero.
    zero = (("outcome", "unavailable"), ("source", "tencent_pull_to_push"))
    assert zero in after["relaywarden_callbacks_total"]

    for source in ("aliyun_pull_to_push", "trtc"):
        sent = sum(n for (s, _), n in traffic.items() if s == source)
        name = "relaywarden_callback_duration_seconds_count"
        assert value(after, name, source=source) - value(before, name, source=source) == sent
        inf_bucket = {"source": source, "le": "+Inf"}
        bucket = "relaywarden_callback_duration_seconds_bucket"
        assert value(after, bucket, **inf_bucket) - value(before, bucket, **inf_bucket) == sent

    transitions = {
        ("aliyun", "running", ""): 1,  # m1 at 100; the stale m1 at 150 moves nothing
        ("aliyun", "recovering", ""): 1,
        ("aliyun", "offline", "PullStreamFailed"): 1,
        ("aliyun", "offline", "other"): 1,  # an unknown reason is bounded to "other"
        ("trtc", "running", ""): 1,
        ("trtc", "stopped", ""): 1,
    }
    name = "relaywarden_task_transitions_total"
    for (provider, status, reason), count in transitions.items():
        labels = {"provider": provider, "status": status, "reason": reason}
        assert value(after, name, **labels) - value(before, name, **labels) == count, labels
    assert not any(dict(key).get("reason") == "BrandNewReason" for key in after.get(name, {}))

    tasks = after["relaywarden_tasks"]
    assert value(after, "relaywarden_tasks", provider="aliyun", status="offline") == 2
    assert value(after, "relaywarden_tasks", provider="aliyun", status="running") == 0
    assert value(after, "relaywarden_tasks", provider="trtc", status="stopped") == 1
    assert value(after, "relaywarden_tasks", provider="trtc", status="running") == 0
    assert sum(tasks.values()) == 3


def test_no_label_holds_a_task_id_or_token(server: Server) -> None:
    server.aliyun(aliyun_status("task-id-in-label?", 1, 100))
    server.aliyun(SAMPLE, token="token-in-label?")
    text = server.client.get("/metrics").text
    assert "task-id-in-label" not in text
    assert "token-in-label" not in text
    assert CALLBACK_TOKEN not in text
