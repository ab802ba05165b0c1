"""``relaywarden forwards list|retry``, run as subprocesses against a real relaywarden that
forwards to a real consumer on loopback."""

from __future__ import annotations

import json
from collections.abc import Callable

from tests.cli.conftest import ADMIN_TOKEN, Cli, cli_env
from tests.cli.test_cli import columns
from tests.e2e.conftest import Stack, wait_for
from tests.receiver.forward_consumer import Consumer
from tests.receiver.helpers import ALIYUN_PATH, SAMPLE, dumps

SECRET = "cli-forward-secret-0123"


def test_forwards_list_and_retry_dead(stack_factory: Callable[..., Stack]) -> None:
    consumer = Consumer(SECRET, failing=True)
    with consumer.serve() as hook:
        stack = stack_factory(
            admin_token=ADMIN_TOKEN,
            forward_url=hook,
            forward_secret=SECRET,
            forward_max_attempts=1,
        )
        cli = Cli(cli_env(stack.url, ADMIN_TOKEN))
        sent = stack.http.post(
            ALIYUN_PATH, params={"token": "e2e-callback-token"}, content=dumps(SAMPLE)
        )
        assert sent.json() == {"status": "accepted"}

        def dead() -> list[dict[str, object]]:
            run = cli("forwards", "list", "--state", "dead", "--json")
            assert run.returncode == 0, run.stderr
            found: list[dict[str, object]] = json.loads(run.stdout)
            return found

        [item] = wait_for(dead, what="a dead forward")
        assert item["attempts"] == 1 and item["last_status"] == 503
        assert cli("forwards", "retry").returncode != 0  # neither an id nor --all-dead
        consumer.failing = False
        retried = cli("forwards", "retry", "--all-dead")
        assert retried.returncode == 0, retried.stderr
        assert retried.stdout.strip() == f"retried 1 dead forward(s): #{item['id']}"
        wait_for(consumer.accepted, what="the forward delivered")

        def delivered() -> list[str] | None:
            table = cli("forwards", "list").stdout.splitlines()
            row = columns(table[1], table[0])
            return row if row[3] == "delivered" else None

        row = wait_for(delivered, what="delivered in the table")
        # A retry starts the count again: one attempt, and it was delivered.
    assert row[:5] == [
        str(item["id"]),
        str(item["event_id"]),
        "aliyun_pull_to_push",
        "delivered",
        "1",
    ]
