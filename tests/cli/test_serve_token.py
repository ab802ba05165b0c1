"""``relaywarden serve`` and its callback token: the data directory, the token shown once,
and the refusal to replace a lost token on a store that has history."""

from __future__ import annotations

import contextlib
import sqlite3
import subprocess
from pathlib import Path

import httpx

from tests.cli.conftest import Cli, cli_env, command
from tests.cli.serving import serving
from tests.support.servers import free_port


def banner_url(lines: list[str]) -> str:
    return next(line.split()[-1] for line in lines if "aliyun_pull_to_push" in line)


def test_data_dir_token_shown_once_and_refused_when_lost(tmp_path: Path) -> None:
    data = tmp_path / "data"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    env = cli_env(None, None) | {"RELAYWARDEN_DATA_DIR": str(data)}

    with serving(env, elsewhere) as (base, first):
        token = Cli(cli_env(base, None))("token", "show", "--json")
        shown = token.stdout
    assert (data / "relaywarden.db").exists() and list(elsewhere.glob("*.db")) == []
    made = banner_url(first)
    assert made.endswith("?token=" + made.split("token=")[1]) and made.split("token=")[1] in shown
    assert any("shown only this once" in line for line in first)

    with serving(env, elsewhere) as (base, second):
        callback = f"{base}/callbacks/aliyun/pull-to-push"
        body: dict[str, object] = {"Event": "LivePullToPushRunning", "EventTime": "1"}
        body |= {"TaskId": "t-1", "TaskStatus": 1, "TaskInfo": {"TaskId": "t-1"}}
        assert httpx.post(callback, params={"token": made.split("token=")[1]}, json=body).is_success
    assert banner_url(second).endswith("token=<callback-token>")
    assert not any(made.split("token=")[1] in line for line in second)

    # The token is lost (a restored backup without it): the store has events, so serve
    # refuses to make a new one that would orphan every registered CallbackUrl.
    with contextlib.closing(sqlite3.connect(data / "relaywarden.db")) as conn, conn:
        conn.execute("DELETE FROM meta WHERE key = 'callback_token'")
    refused = subprocess.run(
        [*command(), "serve", "--port", str(free_port())],
        env=env,
        cwd=elsewhere,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert refused.returncode != 0
    assert "--new-token" in refused.stderr and "RELAYWARDEN_CALLBACK_TOKEN" in refused.stderr

    with serving(env, elsewhere, "--new-token") as (_, third):
        pass
    renewed = banner_url(third).split("token=")[1]
    assert renewed not in (made.split("token=")[1], "<callback-token>")
