"""``bench/replicas_pg.py`` still runs: SQLite, one and two PostgreSQL replicas under wrk.

Runs the script for real (1 s per run, no warm-up) on two databases of the test suite's
PostgreSQL server, so that it cannot silently rot again; the figures are only checked to be
real measurements of distinct events, not against any target.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.database import db_query
from tests.support.integration import integration_required
from tests.support.postgres import PostgresServer

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(120)
def test_replicas_pg_measures_sqlite_and_postgres_replicas(
    tmp_path: Path, pg_server: PostgresServer
) -> None:
    if shutil.which("wrk") is None and not integration_required():
        pytest.skip("wrk is not on PATH (make bench installs it)")
    out = tmp_path / "replicas.json"
    urls = [pg_server.new_database(), pg_server.new_database()]
    command = [sys.executable, str(REPO / "bench" / "replicas_pg.py"), "--duration", "1"]
    command += ["--warmup", "0", "--connections", "4", "--json", str(out)]
    command += ["--pg-databases", *urls]
    completed = subprocess.run(
        command, cwd=REPO, capture_output=True, text=True, timeout=100, check=False
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    data = json.loads(out.read_text())
    assert data["valid"] is True
    runs = data["runs"]
    assert list(runs) == ["SQLite, 1 process", "PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"]
    assert [run["replicas"] for run in runs.values()] == [1, 1, 2]
    for name, run in runs.items():
        assert run["requests"] > 0 and run["errors"] == run["non_2xx"] == 0, name
        assert run["req_per_s"] > 0 and 0 < run["p50_ms"] <= run["p99_ms"], name
        # Every request was a new event, on every replica: none was a duplicate.
        assert run["duplicates"] == 0, name
        assert run["stored"] == run["accepted"] >= run["requests"], name
    # The PostgreSQL runs stored into the databases given, in order.
    for url, name in zip(urls, ["PostgreSQL, 1 replica", "PostgreSQL, 2 replicas"], strict=True):
        assert db_query(url, "SELECT COUNT(*) AS n FROM events")[0]["n"] == runs[name]["stored"]
