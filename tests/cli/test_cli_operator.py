"""``relays apply``, ``events search``, event replay and ``token show|rotate``, run as
subprocesses against a real relaywarden (with fake providers) on loopback."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx

from tests.cli.conftest import ADMIN_TOKEN, Cli, cli_env
from tests.cli.test_cli import columns
from tests.e2e.conftest import Stack, relay_body
from tests.e2e.helpers import wait_relay


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return json.dumps(value)  # a TOML basic string is a JSON string


def relays_toml(relays: list[dict[str, Any]]) -> str:
    """``[[relay]]`` tables with sub-tables, as an operator writes them."""
    lines: list[str] = []
    for relay in relays:
        lines += ["[[relay]]", f"name = {toml_value(relay['name'])}"]
        for table in ("pull_to_push", "adopt", "trtc_ingest", "recreate"):
            if table in relay:
                lines.append(f"[relay.{table}]")
                lines += [f"{k} = {toml_value(v)}" for k, v in relay[table].items()]
        lines.append("")
    return "\n".join(lines)


def test_apply_fifty_relays_twice(service: Stack, cli: Cli, tmp_path: Path) -> None:
    relays = [relay_body(f"channel-{i:02d}") for i in range(50)]
    path = tmp_path / "relays.toml"
    path.write_text(relays_toml(relays))

    first = cli("relays", "apply", "-f", str(path))
    assert first.returncode == 0, first.stderr
    header, *rows = first.stdout.splitlines()
    cells = [columns(r, header) for r in rows]
    assert [c[0] for c in cells] == [r["name"] for r in relays]
    assert {c[1] for c in cells} == {"created"}
    service.wait_jobs_settled(timeout=60)
    listed = service.http.get("/api/relays", params={"limit": "500"}).json()["items"]
    assert len(listed) == 50 and {r["state"] for r in listed} == {"active"}
    assert len(service.aliyun.tasks) == 50

    second = json.loads(cli("relays", "apply", "-f", str(path), "--json").stdout)
    assert [r["outcome"] for r in second] == ["unchanged"] * 50
    assert len(service.aliyun.tasks) == 50  # nothing was created again

    relays[7]["pull_to_push"]["DstUrl"] = "rtmp://push.example.com/app/moved"
    relays.append({"name": "broken", "pull_to_push": {"Region": "cn-shanghai"}})
    path.write_text(relays_toml(relays))
    third = cli("relays", "apply", "-f", str(path), "--json")
    assert third.returncode == 1  # one relay was refused
    outcomes = {r["name"]: r for r in json.loads(third.stdout)}
    assert outcomes["channel-07"]["outcome"] == "updated"
    assert outcomes["broken"]["outcome"] == "refused" and "lacks" in outcomes["broken"]["error"]
    assert sum(r["outcome"] == "unchanged" for r in outcomes.values()) == 49
    relay_id = outcomes["channel-07"]["id"]
    assert service.relay(relay_id)["pull_to_push"]["DstUrl"].endswith("/moved")

    path.write_text("[[relay]]\nname = 'a'\n[[relay]]\nname = 'a'\n")
    twice = cli("relays", "apply", "-f", str(path))
    assert twice.returncode == 1 and "declared twice" in twice.stderr
    path.write_text("relay = [")
    assert "not valid TOML" in cli("relays", "apply", "-f", str(path)).stderr


def test_events_search_replay_and_retry_dead(service: Stack, cli: Cli) -> None:
    ids = []
    for name in ("alpha", "beta"):
        body = service.http.put(f"/api/relays/{name}", json=relay_body(name)).json()
        ids.append(body["id"])
    for relay_id in ids:
        wait_relay(service, relay_id, "created", state="active")
    alpha = service.relay(ids[0])
    task = alpha["current_task_id"]
    for status in (1, 3):  # running, then offline: two events of alpha's task
        service.aliyun.set_task_status(task, status, "SourceError" if status == 3 else None)
        assert service.callback(task).status_code == 200
        time.sleep(0.002)

    found = json.loads(cli("events", "search", "--relay", ids[0], "--json").stdout)
    assert [e["status"] for e in found] == ["offline", "running"]
    assert {e["task_id"] for e in found} == {task} and found[0]["provider"] == "aliyun"
    assert json.loads(cli("events", "search", "--relay", ids[1], "--json").stdout) == []
    table = cli("events", "search", "--task", task)
    assert table.returncode == 0 and "SourceError" in table.stdout

    # cursor pagination: one event per page, newest first, no repeats
    page = service.http.get("/api/events", params={"limit": "1"}).json()
    second = service.http.get(
        "/api/events", params={"limit": "1", "cursor": page["next_cursor"]}
    ).json()
    assert page["items"][0]["id"] > second["items"][0]["id"]
    after = found[0]["received_at"]
    assert (
        service.http.get("/api/events", params={"since": after}).json()["items"][0]["id"]
        == found[0]["id"]
    )
    bad = service.http.get("/api/events", params={"since": "yesterday"})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_query"
    assert service.http.get("/api/events", params={"kind": "nope"}).status_code == 400

    # replay the offline event: a new event, noted as a replay, planned like a callback
    replayed = service.http.post(f"/api/events/{found[0]['id']}/replay")
    assert replayed.status_code == 200, replayed.text
    answer = replayed.json()
    assert answer["status"] == "accepted" and answer["replay_of"] == found[0]["id"]
    assert answer["applied"] is True and answer["event_id"] > found[0]["id"]
    newest = service.http.get("/api/events", params={"task": task, "limit": "1"}).json()
    assert f"(replay of event #{found[0]['id']})" in newest["items"][0]["provider_status"]
    missing = service.http.post("/api/events/999999/replay")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"

    # bulk retry of dead jobs, filtered by relay
    service.aliyun.set_task_status(task, -1, "OverEndTime")
    assert service.callback(task).status_code == 200
    service.wait_jobs_settled()
    none = service.http.post("/api/jobs/retry-dead", params={"relay": ids[1]}).json()
    assert none == {"retried": []}
    assert cli("jobs", "retry", "--all-dead", "--relay", ids[1]).stdout.startswith(
        "retried 0 dead job(s)"
    )


def test_token_show_and_rotate(stack_factory: Callable[..., Stack], tmp_path: Path) -> None:
    service = stack_factory(admin_token=ADMIN_TOKEN, callback_token=None)
    service.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    cli = Cli(cli_env(service.url, ADMIN_TOKEN))
    shown = json.loads(cli("token", "show", "--json").stdout)
    old = shown["token"]
    assert len(old) >= 32 and shown["configured"] is False
    urls = shown["callback_urls"]
    assert urls["aliyun_pull_to_push"] == f"{service.url}/callbacks/aliyun/pull-to-push?token={old}"
    assert urls["trtc"] == f"{service.url}/callbacks/trtc"
    assert old in cli("token", "show").stdout

    relay_id = service.http.put("/api/relays/keeper", json=relay_body("keeper")).json()["id"]
    wait_relay(service, relay_id, "created", state="active")
    task = service.relay(relay_id)["current_task_id"]
    per_relay_url = service.aliyun.task(task).callback_url
    assert old not in per_relay_url  # a relay's task carries its own token

    assert cli("token", "rotate").returncode == 1  # no terminal, no --yes: refused
    rotated = json.loads(cli("token", "rotate", "--yes", "--json").stdout)
    new = rotated["token"]
    assert new != old and json.loads(cli("token", "show", "--json").stdout)["token"] == new

    body = service.aliyun.callback_body(task)
    main = f"{service.url}/callbacks/aliyun/pull-to-push"
    assert httpx.post(main, params={"token": old}, json=body).status_code == 401
    assert httpx.post(main, params={"token": new}, json=body).status_code == 200
    # the relay's registered CallbackUrl keeps working after the rotation
    assert (
        service.callback(task, service.aliyun.callback_body(task, event_time=1)).status_code == 200
    )

    configured = stack_factory(admin_token=ADMIN_TOKEN)
    refused = Cli(cli_env(configured.url, ADMIN_TOKEN))("token", "rotate", "--yes")
    assert refused.returncode == 1 and "RELAYWARDEN_CALLBACK_TOKEN" in refused.stderr
