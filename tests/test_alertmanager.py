"""The Alertmanager of the compose stack: its example config passes ``amtool check-config``,
routes critical alerts to the on-call receiver, and Prometheus and compose point at it.

Needs ``amtool`` (Debian package ``prometheus-alertmanager``, installed by .ci/run): skipped
when it is absent, failed instead when RELAYWARDEN_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import subprocess
from pathlib import PurePosixPath
from typing import Any

import pytest
import yaml

from tests.support.integration import require_binary
from tests.test_compose import ROOT, compose, host_path

__all__ = ["compose"]  # the fixture

CONFIG = ROOT / "grafana" / "alertmanager.yml"
RULES = ROOT / "grafana" / "alerts" / "relaywarden.rules.yml"


@pytest.fixture(scope="module")
def amtool() -> str:
    return require_binary("amtool", hint="apt-get install prometheus-alertmanager")


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=60, check=False)


def test_amtool_accepts_the_config(amtool: str) -> None:
    result = run(amtool, "check-config", str(CONFIG))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout and "2 receivers" in result.stdout


def test_amtool_refuses_a_broken_config(amtool: str, tmp_path: Any) -> None:
    broken = tmp_path / "alertmanager.yml"
    broken.write_text(CONFIG.read_text().replace("receiver: on-call", "receiver: nobody"))
    assert run(amtool, "check-config", str(broken)).returncode != 0


@pytest.mark.parametrize(
    ("severity", "receiver"), [("critical", "on-call"), ("warning", "operators")]
)
def test_every_alert_severity_reaches_a_receiver(amtool: str, severity: str, receiver: str) -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    alerts = [r["alert"] for r in rules if r["labels"]["severity"] == severity]
    assert alerts, f"no {severity} alert"
    for alert in alerts:
        routed = run(
            amtool,
            "config",
            "routes",
            "test",
            f"--config.file={CONFIG}",
            f"severity={severity}",
            f"alertname={alert}",
        )
        assert routed.returncode == 0, routed.stderr
        assert routed.stdout.strip() == receiver, (alert, routed.stdout)


def test_compose_runs_alertmanager_and_prometheus_sends_to_it(compose: dict[str, Any]) -> None:
    alertmanager = compose["services"]["alertmanager"]
    flags = dict(arg.split("=", 1) for arg in alertmanager["command"] if "=" in arg)
    assert host_path(alertmanager, PurePosixPath(flags["--config.file"])) == CONFIG
    assert "127.0.0.1:9093:9093" in alertmanager["ports"]
    prometheus = yaml.safe_load((ROOT / "grafana" / "prometheus" / "prometheus.yml").read_text())
    targets = [
        target
        for manager in prometheus["alerting"]["alertmanagers"]
        for config in manager["static_configs"]
        for target in config["targets"]
    ]
    assert targets == ["alertmanager:9093"]
    assert "alertmanager" in compose["services"]["prometheus"]["depends_on"]
