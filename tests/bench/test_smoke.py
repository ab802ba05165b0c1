"""The benchmark suite still runs: ``bench/run.py --smoke`` on real servers and wrk.

Only that it runs and that its figures are real measurements is checked here, not the
performance targets (that is what ``make bench`` reports).
"""

from __future__ import annotations

import json
import math
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.integration import integration_required

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.timeout(240)
def test_smoke_run_measures_every_scenario(tmp_path: Path) -> None:
    if shutil.which("wrk") is None and not integration_required():
        pytest.skip("wrk is not on PATH (make bench installs it)")
    out = tmp_path / "bench.json"
    completed = subprocess.run(
        [sys.executable, str(REPO / "bench" / "run.py"), "--smoke", "--json", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=220,
        check=False,
    )
    assert completed.returncode == 0, completed.stdout[-3000:] + completed.stderr[-3000:]
    assert "summary" in completed.stdout
    data = json.loads(out.read_text())
    assert data["problems"] == []
    figures = {(f["scenario"], f["name"]): f for f in data["figures"]}
    assert {scenario for scenario, _ in figures} == {
        "throughput",
        "paced",
        "follow-up",
        "burst",
        "memory",
    }
    for figure in figures.values():
        assert math.isfinite(figure["value"]), figure

    details = data["details"]
    assert details["body_bytes"] == 190
    for run in (details["throughput"]["bare"], details["throughput"]["relaywarden"]):
        assert run["requests"] > 0 and run["errors"] == 0 and run["non_2xx"] == 0
        assert 0 < run["p50_ms"] <= run["p99_ms"] <= run["max_ms"]
    # Every measured request was a new event for relaywarden (distinct bodies).
    throughput = details["throughput"]
    assert throughput["relaywarden_accepted"] >= throughput["relaywarden"]["requests"]
    ratio = figures[("throughput", "relaywarden / bare")]["value"]
    assert ratio == pytest.approx(
        throughput["relaywarden"]["req_per_s"] / throughput["bare"]["req_per_s"], rel=0.01
    )
    assert details["paced"]["relaywarden"]["requests"] > 0

    followup = details["followup"]
    assert len(followup["latencies_ms"]) == followup["failures"] == 5
    assert followup["first_actions"] == ["DeleteLivePullToPush"]

    burst = details["burst"]
    assert burst["recreated"] == burst["failures"] == 10
    assert burst["calls"] == 20 and burst["throttled"] == 0
    assert burst["max_calls_in_1s"] <= burst["qps"]

    memory = details["memory"]
    assert memory["measured_callbacks"] >= 1500
    assert memory["store_end_bytes"] > memory["store_after_warmup_bytes"] > 0
    assert memory["rss_end_bytes"] > 10 * 1024 * 1024
