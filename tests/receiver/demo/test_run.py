"""``relaywarden demo`` as a subprocess: it prints the status page and token, its relays run,
one fails the way the provider reports it and returns to running; seen through the API and
the CLI (``tests/cli``'s runner) like an operator would."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
from pathlib import Path
from typing import Any

import httpx

from tests.cli.conftest import Cli, cli_env, command
from tests.e2e.conftest import wait_for


def test_demo_relay_fails_and_heals(tmp_path: Path) -> None:
    out_path = tmp_path / "demo.out"
    data = tmp_path / "data"
    with out_path.open("wb") as out:
        demo = subprocess.Popen(
            [
                *command(),
                "demo",
                "--port",
                "0",
                "--fail-after",
                "0.5",
                "--fail-every",
                "0",
                "--data-dir",
                str(data),
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=cli_env(None, None),
        )
    try:
        found = wait_for(
            lambda: re.search(
                r"status page: (http://127\.0\.0\.1:\d+)/ +\(admin token: (\S+)\)",
                out_path.read_text(),
            ),
            timeout=30,
            what="the status page line",
        )
        base, token = found.group(1), found.group(2)
        api = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        assert httpx.get(f"{base}/api/relays").status_code == 401  # the token is required

        def relays() -> dict[str, dict[str, Any]] | None:
            items = api.get("/api/relays").json()["items"]
            return {r["name"]: r for r in items} if len(items) == 3 else None

        def healed() -> dict[str, Any] | None:
            news = (relays() or {}).get("demo-news")
            if news is None or news["generation"] < 2:
                return None
            task = api.get(f"/api/tasks/aliyun/{news['current_task_id']}").json()
            return news if task.get("status") == "running" else None

        news = wait_for(healed, timeout=30, what="demo-news re-created and running")
        every = relays()
        assert every is not None and {r["state"] for r in every.values()} == {"active"}
        assert every["demo-sports"]["generation"] == 1  # only one relay was failed

        cli = Cli(cli_env(base, token))
        events = cli("events", "search", "--relay", news["id"], "--json")
        assert events.returncode == 0, events.stderr
        statuses = [(e["status"], e["reason"]) for e in json.loads(events.stdout)]
        assert ("offline", "PullStreamFailed") in statuses  # the failure callback
        assert statuses.count(("running", None)) == 2  # the first task and the new one
        assert ("exited", "TriggerByUser") in statuses  # relaywarden deleted the failed task
        status = cli("status", "--json")
        assert status.returncode == 0, status.stderr
        assert json.loads(status.stdout)["relays"]["active"] == 3
        page = api.get("/")
        assert page.status_code == 200 and "demo-news" in page.text
        api.close()
    finally:
        demo.send_signal(signal.SIGINT)
        demo.wait(timeout=30)
    text = out_path.read_text()
    assert demo.returncode == 0, text
    assert "demo-news: healed in" in text and "relaywarden demo: stopped" in text
    assert (data / "relaywarden.db").is_file()  # a data directory it was given is kept


def test_demo_on_a_taken_port_says_so() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = subprocess.run(
            [*command(), "demo", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=60,
            env=cli_env(None, None),
            check=False,
        )
    assert run.returncode == 2
    assert f"port {port} is taken; choose another with --port" in run.stdout
    assert "Traceback" not in run.stdout + run.stderr
