"""promtool accepts the alert rules and the Prometheus config, and the rule unit tests pass.

Needs the ``promtool`` binary (Debian package ``prometheus``): skipped when it is absent,
failed instead when RELAYWARDEN_REQUIRE_INTEGRATION=1.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.support.integration import require_binary

ROOT = Path(__file__).resolve().parents[2]
ALERTS = ROOT / "grafana" / "alerts"
RULES = ALERTS / "relaywarden.rules.yml"
RULE_TESTS = ALERTS / "relaywarden.rules.test.yml"
PROMETHEUS_CONFIG = ROOT / "grafana" / "prometheus" / "prometheus.yml"


@pytest.fixture(scope="module")
def promtool() -> str:
    return require_binary("promtool", hint="apt-get install prometheus")


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(a) for a in args], cwd=cwd, capture_output=True, text=True, timeout=120, check=False
    )


def load(path: Path) -> Any:
    return yaml.safe_load(path.read_text(encoding="utf-8"))


def alert_names() -> list[str]:
    return [rule["alert"] for group in load(RULES)["groups"] for rule in group["rules"]]


def test_check_rules(promtool: str) -> None:
    result = run(promtool, "check", "rules", RULES)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in result.stdout


def test_check_config(promtool: str) -> None:
    """The compose stack's Prometheus config parses and its rule_files resolve to our rules."""
    result = run(promtool, "check", "config", PROMETHEUS_CONFIG)
    assert result.returncode == 0, result.stdout + result.stderr
    # The relative rule_files entry resolved to our rules file (and promtool checked it).
    assert "relaywarden.rules.yml" in result.stdout
    assert "rules found" in result.stdout


def test_rule_unit_tests_pass(promtool: str) -> None:
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=ALERTS)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def test_every_alert_has_a_firing_and_a_quiet_case() -> None:
    firing: set[str] = set()
    quiet: set[str] = set()
    for case in load(RULE_TESTS)["tests"]:
        for check in case.get("alert_rule_test", []):
            (firing if check.get("exp_alerts") else quiet).add(check["alertname"])
    names = set(alert_names())
    assert names - firing == set(), "alerts without a firing test"
    assert names - quiet == set(), "alerts without a test where they stay quiet"
    assert (firing | quiet) - names == set(), "tests for alerts that do not exist"


def _mutated_run(promtool: str, tmp_path: Path, alert: str, mutate: Any) -> str:
    """Run the unit tests of ``alert`` against a copy of the rules where ``mutate`` changed it.

    Only the test cases that check ``alert`` are run, to keep this fast.
    """
    rules = load(RULES)
    (rule,) = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == alert]
    mutate(rule)
    tests = load(RULE_TESTS)
    tests["tests"] = [
        {**case, "alert_rule_test": checks}
        for case in tests["tests"]
        if (checks := [c for c in case.get("alert_rule_test", []) if c["alertname"] == alert])
    ]
    (tmp_path / RULES.name).write_text(yaml.safe_dump(rules, sort_keys=False), encoding="utf-8")
    (tmp_path / RULE_TESTS.name).write_text(yaml.safe_dump(tests, sort_keys=False), "utf-8")
    result = run(promtool, "test", "rules", RULE_TESTS.name, cwd=tmp_path)
    assert result.returncode != 0, f"unit tests still pass with a mutated {alert}: {rule}"
    output = result.stdout + result.stderr
    assert f"alertname: {alert}," in output, output
    return output


def _replace(old: str, new: str) -> Any:
    def mutate(rule: dict[str, Any]) -> None:
        expr = " ".join(rule["expr"].split())
        assert old in expr, f"mutation target {old!r} is no longer in {rule['alert']}: {expr}"
        rule["expr"] = expr.replace(old, new)

    return mutate


def _drop_for(rule: dict[str, Any]) -> None:
    assert "for" in rule
    del rule["for"]


@pytest.mark.parametrize("alert", alert_names())
def test_unit_tests_catch_an_alert_that_never_fires(
    promtool: str, tmp_path: Path, alert: str
) -> None:
    _mutated_run(promtool, tmp_path, alert, lambda rule: rule.update(expr="vector(1) == 0"))


#: For each alert, a plausible mistake in its guard, filter or threshold that one of its
#: quiet test cases exists to catch.
GUARD_MUTATIONS: dict[str, Any] = {
    "RelaywardenCallbacksUnauthorized": _replace(") >= 10", ") >= 0"),
    "RelaywardenCallbacksRejected": _replace(
        '"malformed|too_large"', '"malformed|too_large|duplicate"'
    ),
    "RelaywardenCallbacksUnavailable": _replace(") >= 5", ") >= 0"),
    "RelaywardenCallbacksUnrecognized": _replace("[30m]", "[60m]"),
    "RelaywardenRelayGaveUp": _replace("[15m]", "[30m]"),
    "RelaywardenRelaysFailed": _drop_for,
    "RelaywardenRelaysNotRunning": _drop_for,
    "RelaywardenForwardsDead": _replace('outcome="dead"', 'outcome=~"dead|retried"'),
    "RelaywardenIngestUnknown": _replace("[30m]", "[60m]"),
    "RelaywardenOrphanTasks": _drop_for,
    "RelaywardenAdoptionsRefused": _replace("[15m]", "[45m]"),
    "RelaywardenJobsDead": _replace('outcome="dead"', 'outcome=~"dead|retried"'),
    "RelaywardenJobBacklogStale": _replace(") > 0)", "))"),
    "RelaywardenProviderThrottled": _replace("> 0.05", "> 0.01"),
    "RelaywardenTargetDown": _replace('job=~"relaywarden.*"', 'job=~".+"'),
}


def test_every_alert_has_a_guard_mutation() -> None:
    assert set(GUARD_MUTATIONS) == set(alert_names())


@pytest.mark.parametrize("alert", sorted(GUARD_MUTATIONS))
def test_unit_tests_catch_a_weakened_guard(promtool: str, tmp_path: Path, alert: str) -> None:
    _mutated_run(promtool, tmp_path, alert, GUARD_MUTATIONS[alert])
