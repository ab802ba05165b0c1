"""The Grafana dashboard and the alert rules follow the linter rules and the metric contract."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import promql_parser
import pytest
import yaml

from tests.grafana.promql_lint import (
    ALERT_QUERY_RULES,
    DASHBOARD_QUERY_RULES,
    JOB_ACTIONS,
    METRICS,
    dashboard_exprs,
    lint_dashboard,
    lint_query,
    metric_names,
    query_panels,
    series_specs,
    substitute,
    walk,
)

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "relaywarden.json"
RULES = ROOT / "grafana" / "alerts" / "relaywarden.rules.yml"


@pytest.fixture(scope="module")
def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    return loaded


def alert_rules() -> list[dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    return [rule for group in groups for rule in group["rules"]]


def panel_by_title(dashboard: dict[str, Any], title: str) -> dict[str, Any]:
    return next(p for p in query_panels(dashboard) if p["title"] == title)


# --- the real dashboard passes --------------------------------------------------------------


def test_dashboard_has_no_lint_problems(dashboard: dict[str, Any]) -> None:
    assert lint_dashboard(dashboard) == []


def test_dashboard_identity(dashboard: dict[str, Any]) -> None:
    assert dashboard["uid"] == "relaywarden-overview"
    assert dashboard["schemaVersion"] >= 39
    assert dashboard.get("id") is None, "a provisioned dashboard must not carry a database id"


def test_dashboard_covers_the_issue_panels(dashboard: dict[str, Any]) -> None:
    """Each view the issue asks for is there, with the metric it is built from."""
    used: dict[str, set[str]] = {}
    for panel in query_panels(dashboard):
        names: set[str] = set()
        for target in panel["targets"]:
            names |= metric_names(target["expr"])
        used[panel["title"]] = names
    wanted = {
        "relaywarden_callbacks_total",
        "relaywarden_callback_duration_seconds_bucket",
        "relaywarden_tasks",
        "relaywarden_task_transitions_total",
        "relaywarden_recreations_total",
        "relaywarden_jobs_total",
        "relaywarden_jobs_pending",
        "relaywarden_job_oldest_pending_timestamp_seconds",
        "relaywarden_provider_requests_total",
        "relaywarden_provider_request_duration_seconds_bucket",
        "relaywarden_relays",
    }
    assert wanted <= set().union(*used.values())
    ratio = panel_by_title(dashboard, "Callback error and rejection ratio")
    assert "unauthorized|malformed|too_large|unavailable" in ratio["targets"][0]["expr"]
    latency = panel_by_title(dashboard, "Callback ack latency (p50, p99)")
    assert [t["expr"].split(",")[0] for t in latency["targets"]] == [
        "histogram_quantile(0.5",
        "histogram_quantile(0.99",
    ]


def test_oldest_pending_age_ignores_the_zero_gauge(dashboard: dict[str, Any]) -> None:
    """0 means "nothing pending": the age must be computed only from a gauge filtered by > 0."""
    (target,) = panel_by_title(dashboard, "Oldest pending job age")["targets"]
    tree = promql_parser.parse(substitute(target["expr"]))
    ages = [
        node
        for node, _ in walk(tree)
        if isinstance(node, promql_parser.BinaryExpr)
        and str(node.op) == "-"
        and isinstance(node.lhs, promql_parser.Call)
        and node.lhs.func.name == "time"
    ]
    assert ages, "expected time() - <oldest pending timestamp>"
    for age in ages:
        filtered = [
            node
            for node, _ in walk(age.rhs)
            if isinstance(node, promql_parser.BinaryExpr)
            and str(node.op) == ">"
            and isinstance(node.rhs, promql_parser.NumberLiteral)
            and node.rhs.val == 0
            and "relaywarden_job_oldest_pending_timestamp_seconds" in metric_names(str(node.lhs))
        ]
        assert filtered, f"time() - gauge without '> 0': {age}"


def test_every_metric_in_the_contract_is_on_the_dashboard(dashboard: dict[str, Any]) -> None:
    used: set[str] = set()
    for _, expr in dashboard_exprs(dashboard):
        used |= metric_names(expr)
    bases = {
        name.removesuffix("_bucket").removesuffix("_count").removesuffix("_sum") for name in used
    }
    assert set(METRICS) - bases == set()


# --- the linter catches broken panels -------------------------------------------------------


def _break(dashboard: dict[str, Any], title: str, mutate: Any) -> list[str]:
    broken = copy.deepcopy(dashboard)
    mutate(panel_by_title(broken, title))
    return lint_dashboard(broken)


@pytest.mark.parametrize(
    ("mutation", "expected"),
    [
        (lambda p: p["fieldConfig"]["defaults"].pop("unit"), "unit None"),
        (lambda p: p["fieldConfig"]["defaults"].update(unit="requests"), "unit 'requests'"),
        (lambda p: p.update(description=""), "no description"),
        (
            lambda p: p.update(datasource={"type": "prometheus", "uid": "P1809F7CD0C75ACF3"}),
            "is not the datasource variable",
        ),
        (lambda p: p["targets"][0].update(datasource={"uid": "prom"}), "target A: datasource"),
        (lambda p: p.update(targets=[]), "no targets"),
        (
            lambda p: p["targets"][0].update(
                expr="sum(rate(relaywarden_callbacks_total"
                '{job=~"$job", instance=~"$instance"}[5m]))'
            ),
            "does not use $__rate_interval",
        ),
        (
            lambda p: p["targets"][0].update(
                expr='sum(relaywarden_callbacks_total{job=~"$job", instance=~"$instance"})'
            ),
            "counter 'relaywarden_callbacks_total' is used outside rate",
        ),
        (
            lambda p: p["targets"][0].update(
                expr="sum(delta(relaywarden_callbacks_total"
                '{job=~"$job", instance=~"$instance"}[$__rate_interval]))'
            ),
            "used outside rate/irate/increase",
        ),
        (
            lambda p: p["targets"][0].update(
                expr='sum(rate(relaywarden_callbacks_total{job=~"$job"}[$__rate_interval]))'
            ),
            'missing matcher instance=~"$instance"',
        ),
        (
            lambda p: p["targets"][0].update(
                expr='sum(rate(relaywarden_callbacks_total{job="relaywarden", '
                'instance=~"$instance"}[$__rate_interval]))'
            ),
            'missing matcher job=~"$job"',
        ),
        (
            lambda p: p["targets"][0].update(
                expr="sum(rate(relaywarden_callback_total"
                '{job=~"$job", instance=~"$instance"}[$__rate_interval]))'
            ),
            "'relaywarden_callback_total' is not in the design's metric table",
        ),
        (
            lambda p: p["targets"][0].update(
                expr="sum(rate(relaywarden_callbacks_total"
                '{job=~"$job", instance=~"$instance", outcome="rejected"}[$__rate_interval]))'
            ),
            "outcome value(s) ['rejected']",
        ),
        (
            lambda p: p["targets"][0].update(
                expr="sum(rate(relaywarden_callbacks_total"
                '{job=~"$job", instance=~"$instance", task_id="x"}[$__rate_interval]))'
            ),
            "label 'task_id' is not one of",
        ),
        (
            lambda p: p["targets"][0].update(
                expr="sum by (task_id) (rate(relaywarden_callbacks_total"
                '{job=~"$job", instance=~"$instance"}[$__rate_interval]))'
            ),
            "groups by unknown labels ['task_id']",
        ),
        (lambda p: p["targets"][0].update(expr="sum(rate(x[$__rate_interval])"), "does not parse"),
    ],
    ids=[
        "no-unit",
        "bad-unit",
        "no-description",
        "fixed-datasource",
        "target-datasource",
        "no-targets",
        "fixed-range",
        "bare-counter",
        "counter-in-delta",
        "no-instance-matcher",
        "job-not-variable",
        "unknown-metric",
        "unknown-label-value",
        "unbounded-label",
        "group-by-unknown-label",
        "syntax-error",
    ],
)
def test_linter_catches_a_broken_panel(
    dashboard: dict[str, Any], mutation: Any, expected: str
) -> None:
    problems = _break(dashboard, "Callbacks by source and outcome", mutation)
    assert any(expected in p for p in problems), problems
    assert all("Callbacks by source and outcome" in p for p in problems), problems


def test_linter_catches_counter_hidden_in_histogram_suffixes() -> None:
    expr = 'sum(relaywarden_callback_duration_seconds_count{job=~"$job", instance=~"$instance"})'
    assert any("outside rate" in p for p in lint_query(expr, DASHBOARD_QUERY_RULES))
    expr = 'sum(relaywarden_job_duration_seconds_sum{job=~"$job", instance=~"$instance"})'
    assert any("outside rate" in p for p in lint_query(expr, DASHBOARD_QUERY_RULES))


def test_linter_catches_dashboard_level_problems(dashboard: dict[str, Any]) -> None:
    broken = copy.deepcopy(dashboard)
    broken["uid"] = "abc123"
    broken["schemaVersion"] = 36
    panels = list(query_panels(broken))
    panels[1]["id"] = panels[0]["id"]
    variables = broken["templating"]["list"]
    broken["templating"]["list"] = [v for v in variables if v["name"] != "datasource"]
    job = next(v for v in variables if v["name"] == "job")
    job["query"] = "label_values(up, job)"
    job["refresh"] = 1
    instance = next(v for v in variables if v["name"] == "instance")
    instance["multi"] = False
    problems = "\n".join(lint_dashboard(broken))
    for expected in (
        "uid is 'abc123'",
        "schemaVersion 36 < 39",
        f"panel id {panels[0]['id']} is used twice",
        "no 'datasource' template variable",
        "variable 'job' must take label_values from relaywarden_callbacks_total",
        "variable 'job' must refresh on time range change",
        "variable 'instance' must be multi-select",
    ):
        assert expected in problems


# --- alert rules ----------------------------------------------------------------------------


def test_alert_rules_are_well_formed() -> None:
    rules = alert_rules()
    assert rules
    names = [r["alert"] for r in rules]
    assert len(set(names)) == len(names), "duplicate alert names"
    for rule in rules:
        assert rule["labels"]["severity"] in {"info", "warning", "critical"}, rule["alert"]
        assert rule["annotations"]["summary"].strip(), rule["alert"]
        assert rule["annotations"]["description"].strip(), rule["alert"]


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda r: r["alert"])
def test_alert_expr_uses_only_contract_metrics(rule: dict[str, Any]) -> None:
    assert lint_query(rule["expr"], ALERT_QUERY_RULES) == []
    assert metric_names(rule["expr"]) <= set(series_specs(allow_prometheus=True))


def test_alert_linter_catches_contract_violations() -> None:
    bad = {
        'increase(relaywarden_recreations_total{outcome="given_up"}[15m]) > 0': "given_up",
        'relaywarden_jobs_total{outcome="dead"} > 0': "outside rate",
        "rate(relaywarden_jobs_dead_total[5m]) > 0": "not in the design's metric table",
        'relaywarden_relays{status="failed"} > 0': "label 'status' is not one of ['state']",
    }
    for expr, expected in bad.items():
        assert any(expected in p for p in lint_query(expr, ALERT_QUERY_RULES)), expr


def test_issue_alerts_exist() -> None:
    exprs = {r["alert"]: " ".join(r["expr"].split()) for r in alert_rules()}
    joined = "\n".join(exprs.values())
    for fragment in (
        'relaywarden_callbacks_total{outcome="unauthorized"}',
        'relaywarden_recreations_total{outcome="gave_up"}',
        'relaywarden_relays{state="failed"}',
        'relaywarden_jobs_total{outcome="dead"}',
        "relaywarden_job_oldest_pending_timestamp_seconds",
        'rate(relaywarden_provider_requests_total{result="throttled"}[10m])',
        'up{job=~"relaywarden.*"} == 0',
    ):
        assert fragment in joined, fragment


# --- the contract matches the code ----------------------------------------------------------


def test_receiver_metrics_match_the_contract() -> None:
    """Every metric object in receiver.metrics has the contract's name, type and labels."""
    from prometheus_client.metrics import MetricWrapperBase

    from receiver import metrics

    found: dict[str, tuple[str, tuple[str, ...]]] = {}
    for obj in vars(metrics).values():
        if isinstance(obj, MetricWrapperBase):
            (family,) = obj.describe()
            name = family.name + ("_total" if family.type == "counter" else "")
            found[name] = (family.type, tuple(obj._labelnames))
    assert found, "receiver.metrics defines no metric objects"
    for name, (kind, labels) in found.items():
        assert name in METRICS, f"{name} is not in the design's metric table"
        assert kind == METRICS[name].type, name
        assert set(labels) == set(METRICS[name].labels), name
    # The store-derived gauges come from a custom collector; the rest must be defined here.
    direct = {n for n, spec in METRICS.items() if spec.type != "gauge"}
    assert direct <= set(found)


def test_alerted_counters_exist_before_their_first_increment() -> None:
    """increase() cannot see the first increment of a series that appears with value 1.

    RelaywardenRelayGaveUp and RelaywardenJobsDead use increase(), so the series they watch
    must be exported (as 0) from the start, for every job action: otherwise the first dead
    job of each action after every restart goes unnoticed.
    """
    from prometheus_client import generate_latest

    from receiver import metrics

    text = generate_latest(metrics.REGISTRY).decode()
    assert 'relaywarden_recreations_total{outcome="gave_up"}' in text
    missing = [
        action
        for action in sorted(JOB_ACTIONS)
        if f'relaywarden_jobs_total{{action="{action}",outcome="dead"}}' not in text
    ]
    assert missing == [], "receiver/metrics.py must pre-initialise jobs_total{action, outcome}"


def test_dashboard_shows_the_recording_and_artc_actions(dashboard: dict[str, Any]) -> None:
    """The OSS/ARTC provider operations and their follow-up jobs each have a panel."""
    calls = panel_by_title(dashboard, "OSS LiveChannel and ARTC calls by API and result")
    expr = calls["targets"][0]["expr"]
    for api in ("PutLiveChannel", "PutLiveChannelStatus", "GetLiveChannelStat"):
        assert api in expr
    for api in ("StartRtcCloudTranscode", "StopRtcCloudTranscode", "CreateRTCWhipStreamAddress"):
        assert api in expr
    jobs = panel_by_title(dashboard, "Transcode and channel jobs by outcome")
    assert "start_transcode|stop_transcode|disable_channel" in jobs["targets"][0]["expr"]
    assert metric_names(jobs["targets"][0]["expr"]) == {"relaywarden_jobs_total"}
