"""One ``relaywarden serve`` process owns a store; replicas need their own."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
import pytest

from receiver.store.lock import StoreLocked, hold_store_lock
from tests.receiver.helpers import (
    CALLBACK_TOKEN,
    RELAYWARDEN,
    aliyun_status,
    serve_env,
    start_serve,
)
from tests.support.servers import free_port


def test_a_second_holder_is_refused_and_the_lock_is_released_after(tmp_path: Path) -> None:
    db = str(tmp_path / "store.db")
    with hold_store_lock(db):
        assert Path(f"{db}.lock").read_text() == str(os.getpid())
        # flock locks belong to the open file: a second open in this process conflicts too.
        with pytest.raises(StoreLocked, match="already served by relaywarden"), hold_store_lock(db):
            pass
    with hold_store_lock(db):
        pass


def test_second_serve_on_the_same_store_refuses_to_start(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first = start_serve(tmp_path, db, name="first")
    try:
        second = subprocess.run(
            [str(RELAYWARDEN), "serve"],
            env=serve_env(db, free_port()),
            capture_output=True,
            timeout=30,
            cwd=tmp_path,
        )
        assert second.returncode == 2
        message = second.stderr.decode()
        assert f"pid {first.popen.pid}" in message and "RELAYWARDEN_DATABASE_URL" in message
        # The first process keeps serving undisturbed.
        ok = httpx.post(
            f"{first.base}/callbacks/aliyun/pull-to-push",
            params={"token": CALLBACK_TOKEN},
            json=aliyun_status("t-lock", 1, 1725501246),
        )
        assert ok.json() == {"status": "accepted"}
        assert httpx.get(f"{first.base}/healthz").status_code == 200
    finally:
        first.stop(signal.SIGKILL)
    # SIGKILL leaves no stale lock: the kernel dropped it with the process.
    again = start_serve(tmp_path, db, name="again")  # raises unless it serves
    assert httpx.get(f"{again.base}/api/tasks/aliyun/t-lock").json()["status"] == "running"
    again.stop()
