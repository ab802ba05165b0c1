"""The admin CLI, run as a subprocess against a real relaywarden on loopback."""

from __future__ import annotations

import json
from importlib.metadata import version

from tests.cli.conftest import ADMIN_TOKEN, Cli, cli_env
from tests.e2e.conftest import Stack, relay_body
from tests.e2e.helpers import declare, jobs_of, wait_relay
from tests.fakes.common import ErrorFault
from tests.support.seeding import seed
from tests.support.servers import free_port


def columns(line: str, header: str) -> list[str]:
    """Cut a table line at the positions where the header's columns start."""
    starts = [i for i, ch in enumerate(header) if ch != " " and (i == 0 or header[i - 1] == " ")]
    # A column header may hold one space ("LAST ERROR"); those are not column starts.
    starts = [s for s in starts if s == 0 or header[s - 2] == " "]
    bounds = [*starts[1:], None]
    return [line[a:b].strip() for a, b in zip(starts, bounds, strict=True)]


def test_version_and_usage() -> None:
    run = Cli(cli_env(None, None))
    result = run("--version")
    assert result.returncode == 0
    assert result.stdout.strip() == f"relaywarden {version('relaywarden')}"
    assert run("relays").returncode == 2  # a subcommand is required
    assert "list" in run("relays", "--help").stdout


def test_status_and_relays(service: Stack, cli: Cli) -> None:
    seeded = seed(service)

    result = cli("status")
    assert result.returncode == 0, result.stderr
    lines = dict(line.split(None, 1) for line in result.stdout.splitlines())
    assert lines["api"] == service.url
    assert lines["health"] == "ok" and lines["readiness"] == "ready"
    assert lines["relays"] == "3 (active 2, failed 1)"
    assert lines["jobs"] == "pending 0, running 0, dead 0"
    as_json = json.loads(cli("status", "--json").stdout)
    assert as_json["ready"] is True and as_json["problems"] == []
    assert as_json["relays"] == {
        "pending": 0,
        "active": 2,
        "ended": 0,
        "failed": 1,
        "deleting": 0,
        "deleted": 0,
    }

    listing = cli("relays", "list")
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split()[:3] == ["ID", "NAME", "STATE"]
    table = {cells[0]: cells for cells in (columns(r, header) for r in rows)}
    assert set(table) == {seeded.running, seeded.quiet, seeded.failed}
    assert table[seeded.failed][1:3] == ["beta-failed", "failed"]
    assert table[seeded.failed][5] == "2"  # generation
    assert table[seeded.failed][7].startswith("gave up re-creating after 1 attempts")
    assert table[seeded.running][2] == "active"
    assert table[seeded.quiet][6] == "-"  # no ingests

    failed_only = json.loads(cli("relays", "list", "--state", "failed", "--json").stdout)
    assert [r["id"] for r in failed_only] == [seeded.failed]
    assert len(json.loads(cli("relays", "list", "--limit", "2", "--json").stdout)) == 2

    shown = cli("relays", "show", seeded.failed)
    assert shown.returncode == 0, shown.stderr
    assert "beta-failed" in shown.stdout and "gave up re-creating" in shown.stdout
    facts = dict(line.split(None, 1) for line in shown.stdout.split("\n\n")[0].splitlines())
    assert facts["state"] == "failed" and facts["generation"] == "2"
    detail = json.loads(cli("relays", "show", seeded.failed, "--json").stdout)
    assert detail == service.relay(seeded.failed)
    assert [t["generation"] for t in detail["tasks"]] == [1, 2]

    missing = cli("relays", "show", "no-such-relay")
    assert missing.returncode == 1
    assert "404 not_found" in missing.stderr and "no-such-relay" in missing.stderr


def test_delete_needs_confirmation(service: Stack, cli: Cli) -> None:
    relay_id = declare(service, relay_body("to-delete"))
    wait_relay(service, relay_id, "active", state="active")
    refused = cli("relays", "delete", relay_id)
    assert refused.returncode == 1 and "--yes" in refused.stderr
    assert service.relay(relay_id)["state"] == "active"

    deleted = cli("relays", "delete", relay_id, "--yes")
    assert deleted.returncode == 0, deleted.stderr
    assert deleted.stdout.strip() == f"relay {relay_id} is deleting"
    wait_relay(service, relay_id, "deleted", state="deleted")


def test_jobs_list_and_retry(service: Stack, cli: Cli) -> None:
    rejected = ErrorFault(400, "InvalidParameter.DstUrl", "DstUrl is invalid.")
    service.aliyun.inject("CreateLivePullToPush", rejected, rejected, rejected)
    ids = [declare(service, relay_body(f"rejected-{i}")) for i in range(3)]
    service.wait_jobs_settled()
    dead = [jobs_of(service, relay_id, "create_task")[0]["id"] for relay_id in ids]
    assert [j["state"] for j in service.jobs("dead")] == ["dead"] * 3

    listing = cli("jobs", "list", "--state", "dead")
    assert listing.returncode == 0, listing.stderr
    header, *rows = listing.stdout.splitlines()
    assert header.split()[:4] == ["ID", "ACTION", "STATE", "RELAY"]
    cells = [columns(r, header) for r in rows]
    assert sorted(int(c[0]) for c in cells) == sorted(dead)
    assert {c[1] for c in cells} == {"create_task"} and {c[2] for c in cells} == {"dead"}
    assert all("InvalidParameter.DstUrl" in c[6] for c in cells)
    mine = json.loads(cli("jobs", "list", "--relay", ids[0], "--json").stdout)
    assert [j["id"] for j in mine] == [dead[0]]

    one = cli("jobs", "retry", str(dead[0]))
    assert one.returncode == 0, one.stderr
    assert one.stdout.startswith(f"job #{dead[0]} (create_task) is ")
    wait_relay(service, ids[0], "created on retry", state="active")
    again = cli("jobs", "retry", str(dead[0]))
    assert again.returncode == 1 and "409 not_dead" in again.stderr

    everything = json.loads(cli("jobs", "retry", "--all-dead", "--json").stdout)
    assert sorted(everything["retried"]) == sorted(dead[1:]) and set(everything) == {"retried"}
    for relay_id in ids[1:]:
        wait_relay(service, relay_id, "created on retry", state="active")
    service.wait_jobs_settled()
    assert service.jobs("dead") == []
    assert cli("jobs", "retry", "--all-dead").stdout.strip() == "retried 0 dead job(s)"
    assert cli("jobs", "retry").returncode == 1


def test_clear_errors(service: Stack) -> None:
    wrong_token = Cli(cli_env(service.url, "wrong"))("relays", "list")
    assert wrong_token.returncode == 1
    assert "refused the admin token" in wrong_token.stderr
    assert "wrong" not in wrong_token.stderr  # never echo a token

    nowhere = Cli(cli_env(f"http://127.0.0.1:{free_port()}", ADMIN_TOKEN))("status")
    assert nowhere.returncode == 1
    assert "cannot reach relaywarden" in nowhere.stderr
    assert "RELAYWARDEN_API_URL" in nowhere.stderr

    # Without RELAYWARDEN_API_URL the CLI finds the service where serve listens.
    port = service.url.rsplit(":", 1)[1]
    env = cli_env(None, ADMIN_TOKEN) | {"RELAYWARDEN_HOST": "0.0.0.0", "RELAYWARDEN_PORT": port}
    local = Cli(env)("status", "--json")
    assert local.returncode == 0, local.stderr
    assert json.loads(local.stdout)["api_url"] == service.url
