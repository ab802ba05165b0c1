"""Checks for relaywarden's Grafana dashboard and Prometheus rules (used by the tests beside it).

The rules follow grafana/dashboard-linter (templated datasource, job/instance variables and
matchers, units, descriptions, ``$__rate_interval``, counters only inside rate/irate/increase)
plus relaywarden's own contract: every metric, label and label value that a query names must
exist in the documented metrics table, copied below as ``METRICS``.

PromQL is parsed with ``promql_parser`` (Python binding of the promql-parser crate), so checks
look at the expression tree, not at text.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import promql_parser

# ---------------------------------------------------------------------------------------------
# The contract: the metrics relaywarden documents. Label values are listed where
# the design (or the issue that defines them) bounds them; ``None`` means "any bounded value"
# (provider API names, reasons, statuses).

CALLBACK_SOURCES = frozenset({"aliyun_pull_to_push", "trtc", "tencent_pull_to_push"})
CALLBACK_OUTCOMES = frozenset(
    {
        "accepted",
        "duplicate",
        "unauthorized",
        "malformed",
        "unrecognized",
        "too_large",
        "unavailable",
    }
)
PROVIDERS = frozenset({"aliyun", "trtc", "tencent"})
TASK_STATUSES = frozenset(
    {"idle", "running", "recovering", "offline", "exited", "starting", "failed", "stopped"}
)
JOB_ACTIONS = frozenset(
    {
        "recreate",
        "create_task",
        "delete_task",
        "adopt_task",
        "start_ingest",
        "stop_ingest",
        "check_ingest",
        "restart_ingest",
        "await_ingest_id",
        "start_transcode",
        "stop_transcode",
        "disable_channel",
    }
)
JOB_OUTCOMES = frozenset({"succeeded", "skipped", "retried", "dead"})
PROVIDER_RESULTS = frozenset({"ok", "throttled", "retryable", "rejected"})
RELAY_STATES = frozenset({"pending", "active", "failed", "deleting", "deleted"})
RECREATION_OUTCOMES = frozenset({"created", "gave_up"})
# Issue 14 (hardening): connections the server guard closed before the app saw a request.
CONNECTION_REFUSALS = frozenset(
    {"limit", "evicted", "header_timeout", "body_timeout", "header_too_large"}
)
# Issue 14 (hardening): callbacks about unknown tasks stored beyond the adoption bounds.
ADOPTION_REFUSALS = frozenset({"max_relays", "per_minute"})


@dataclass(frozen=True)
class MetricSpec:
    type: str  # counter | gauge | histogram
    labels: dict[str, frozenset[str] | None] = field(default_factory=dict)


METRICS: dict[str, MetricSpec] = {
    "relaywarden_callbacks_total": MetricSpec(
        "counter", {"source": CALLBACK_SOURCES, "outcome": CALLBACK_OUTCOMES}
    ),
    "relaywarden_callback_duration_seconds": MetricSpec("histogram", {"source": CALLBACK_SOURCES}),
    "relaywarden_task_transitions_total": MetricSpec(
        "counter", {"provider": PROVIDERS, "status": TASK_STATUSES, "reason": None}
    ),
    "relaywarden_tasks": MetricSpec("gauge", {"provider": PROVIDERS, "status": TASK_STATUSES}),
    "relaywarden_jobs_total": MetricSpec(
        "counter", {"action": JOB_ACTIONS, "outcome": JOB_OUTCOMES}
    ),
    "relaywarden_job_duration_seconds": MetricSpec("histogram", {"action": JOB_ACTIONS}),
    "relaywarden_jobs_pending": MetricSpec("gauge", {"action": JOB_ACTIONS}),
    "relaywarden_job_oldest_pending_timestamp_seconds": MetricSpec("gauge", {}),
    "relaywarden_provider_requests_total": MetricSpec(
        "counter", {"provider": PROVIDERS, "api": None, "result": PROVIDER_RESULTS}
    ),
    "relaywarden_provider_request_duration_seconds": MetricSpec(
        "histogram", {"provider": PROVIDERS, "api": None}
    ),
    "relaywarden_relays": MetricSpec("gauge", {"state": RELAY_STATES}),
    "relaywarden_recreations_total": MetricSpec("counter", {"outcome": RECREATION_OUTCOMES}),
    "relaywarden_ingests_unknown_total": MetricSpec("counter", {}),
    "relaywarden_orphan_tasks": MetricSpec("gauge", {}),
    "relaywarden_reconcile_events_total": MetricSpec("counter", {"provider": PROVIDERS}),
    "relaywarden_reconcile_sweep_seconds": MetricSpec("gauge", {}),
    "relaywarden_pruned_rows_total": MetricSpec(
        "counter", {"kind": frozenset({"events", "unrecognized", "jobs", "forwards", "raw"})}
    ),
    # Issue 13 (operator experience): forwarding and relays that are not running.
    "relaywarden_forwards_total": MetricSpec(
        "counter", {"outcome": frozenset({"delivered", "retried", "dead"})}
    ),
    "relaywarden_forward_backlog": MetricSpec("gauge", {}),
    "relaywarden_forwards_dead": MetricSpec("gauge", {}),
    "relaywarden_relays_not_running": MetricSpec("gauge", {}),
    "relaywarden_jobs_dead": MetricSpec("gauge", {}),
    "relaywarden_connections_refused_total": MetricSpec("counter", {"reason": CONNECTION_REFUSALS}),
    "relaywarden_adoptions_refused_total": MetricSpec("counter", {"reason": ADOPTION_REFUSALS}),
}

#: Series Prometheus itself adds per target; alert rules may use them.
PROMETHEUS_SERIES = {"up": MetricSpec("gauge", {})}

#: Labels every scraped series carries.
TARGET_LABELS = frozenset({"job", "instance"})

COUNTER_SUFFIXES = ("_total", "_count", "_bucket", "_sum")
RATE_FUNCTIONS = frozenset({"rate", "irate", "increase"})


def series_specs(*, allow_prometheus: bool = False) -> dict[str, MetricSpec]:
    """Every series name a query may select: histograms expand to _bucket/_count/_sum."""
    specs: dict[str, MetricSpec] = {}
    for name, spec in METRICS.items():
        if spec.type == "histogram":
            specs[f"{name}_bucket"] = MetricSpec("counter", {**spec.labels, "le": None})
            specs[f"{name}_count"] = MetricSpec("counter", spec.labels)
            specs[f"{name}_sum"] = MetricSpec("counter", spec.labels)
        else:
            specs[name] = spec
    if allow_prometheus:
        specs.update(PROMETHEUS_SERIES)
    return specs


# ---------------------------------------------------------------------------------------------
# Grafana variables

#: What ``$__rate_interval`` is replaced with before parsing: a duration nobody writes by hand,
#: so that a range equal to it means "the query used $__rate_interval" (as dashboard-linter does).
RATE_INTERVAL_MAGIC = "123456789ms"
RATE_INTERVAL_DELTA = dt.timedelta(milliseconds=123456789)

_GRAFANA_VAR = re.compile(r"\$(\w+)|\$\{(\w+)(?::\w+)?\}|\[\[(\w+)\]\]")


def substitute(expr: str, values: dict[str, str] | None = None) -> str:
    """Replace Grafana variables in ``expr``.

    ``$__rate_interval`` becomes ``values["__rate_interval"]`` or the magic duration; other
    variables are replaced only when ``values`` names them (inside label matcher strings, an
    unreplaced ``$job`` is harmless to the parser).
    """
    values = {"__rate_interval": RATE_INTERVAL_MAGIC, **(values or {})}

    def repl(match: re.Match[str]) -> str:
        name = match.group(1) or match.group(2) or match.group(3)
        return values.get(name, match.group(0))

    return _GRAFANA_VAR.sub(repl, expr)


# ---------------------------------------------------------------------------------------------
# PromQL tree walking


def children(node: Any) -> list[Any]:
    if isinstance(node, promql_parser.BinaryExpr):
        return [node.lhs, node.rhs]
    if isinstance(node, promql_parser.AggregateExpr):
        return [c for c in (node.param, node.expr) if c is not None]
    if isinstance(node, promql_parser.Call):
        return list(node.args)
    if isinstance(node, promql_parser.MatrixSelector):
        return [node.vector_selector]
    if isinstance(
        node, promql_parser.SubqueryExpr | promql_parser.ParenExpr | promql_parser.UnaryExpr
    ):
        return [node.expr]
    return []


def walk(node: Any, parents: tuple[Any, ...] = ()) -> Iterator[tuple[Any, tuple[Any, ...]]]:
    """Yield ``(node, ancestors)`` for every node of the tree, ancestors outermost first."""
    yield node, parents
    for child in children(node):
        yield from walk(child, (*parents, node))


def selector_name(selector: Any) -> str | None:
    if selector.name:
        return str(selector.name)
    for matcher in selector.matchers.matchers:
        if matcher.name == "__name__" and matcher.op == promql_parser.MatchOp.Equal:
            return str(matcher.value)
    return None


def _matcher_values(matcher: Any) -> list[str] | None:
    """Literal values a matcher can match, or None when it is not a plain literal/alternation."""
    value = str(matcher.value)
    if matcher.op in (promql_parser.MatchOp.Equal, promql_parser.MatchOp.NotEqual):
        return [value]
    if re.fullmatch(r"[A-Za-z0-9_]+(\|[A-Za-z0-9_]+)*", value):
        return value.split("|")
    return None


def _inside_rate(parents: tuple[Any, ...]) -> Any | None:
    """The rate/irate/increase call directly around ``selector[range]``, if any."""
    if len(parents) < 2 or not isinstance(parents[-1], promql_parser.MatrixSelector):
        return None
    call = parents[-2]
    if isinstance(call, promql_parser.Call) and call.func.name in RATE_FUNCTIONS:
        return call
    return None


@dataclass
class QueryRules:
    require_target_matchers: bool  # job=~"$job", instance=~"$instance" on every selector
    require_rate_interval: bool  # every range is $__rate_interval
    allow_prometheus_series: bool = False


DASHBOARD_QUERY_RULES = QueryRules(require_target_matchers=True, require_rate_interval=True)
ALERT_QUERY_RULES = QueryRules(
    require_target_matchers=False, require_rate_interval=False, allow_prometheus_series=True
)


def metric_names(expr: str) -> set[str]:
    """Names of all series selected by ``expr`` (Grafana variables allowed)."""
    tree = promql_parser.parse(substitute(expr))
    return {
        name
        for node, _ in walk(tree)
        if isinstance(node, promql_parser.VectorSelector)
        and (name := selector_name(node)) is not None
    }


def lint_query(expr: str, rules: QueryRules) -> list[str]:
    """Problems of one PromQL expression (an empty list when it is fine)."""
    try:
        tree = promql_parser.parse(substitute(expr))
    except ValueError as exc:
        return [f"does not parse: {exc}"]
    specs = series_specs(allow_prometheus=rules.allow_prometheus_series)
    all_labels = TARGET_LABELS | {"le"} | {lbl for s in specs.values() for lbl in s.labels}
    problems: list[str] = []
    for node, parents in walk(tree):
        if isinstance(node, promql_parser.VectorSelector):
            problems += _lint_selector(node, parents, specs, rules)
        elif isinstance(node, promql_parser.MatrixSelector):
            if rules.require_rate_interval and node.range != RATE_INTERVAL_DELTA:
                problems.append(f"range [{node.range}] does not use $__rate_interval")
        elif isinstance(node, promql_parser.SubqueryExpr):
            problems.append("subqueries are not used in relaywarden's queries")
        elif isinstance(node, promql_parser.AggregateExpr) and node.modifier is not None:
            unknown = set(node.modifier.labels) - all_labels
            if unknown:
                problems.append(f"{node.op} groups by unknown labels {sorted(unknown)}")
    return problems


def _lint_selector(
    selector: Any, parents: tuple[Any, ...], specs: dict[str, MetricSpec], rules: QueryRules
) -> list[str]:
    problems: list[str] = []
    name = selector_name(selector)
    if name is None:
        return [f"selector {selector} has no metric name"]
    spec = specs.get(name)
    if spec is None:
        return [f"metric {name!r} is not in the design's metric table"]
    if name.endswith(COUNTER_SUFFIXES) and _inside_rate(parents) is None:
        problems.append(f"counter {name!r} is used outside rate/irate/increase")
    matchers = list(selector.matchers.matchers)
    if selector.matchers.or_matchers:
        problems.append(f"{name}: 'or' inside a selector is not supported by Prometheus 2")
    if rules.require_target_matchers:
        for label in ("job", "instance"):
            if not any(
                m.name == label and m.op == promql_parser.MatchOp.Re and m.value == f"${label}"
                for m in matchers
            ):
                problems.append(f'{name}: missing matcher {label}=~"${label}"')
    for matcher in matchers:
        if matcher.name in TARGET_LABELS or matcher.name == "__name__":
            continue
        if matcher.name not in spec.labels:
            problems.append(f"{name}: label {matcher.name!r} is not one of {sorted(spec.labels)}")
            continue
        allowed = spec.labels[matcher.name]
        values = _matcher_values(matcher)
        if allowed is not None and values is not None:
            bad = [v for v in values if v not in allowed]
            if bad:
                problems.append(f"{name}: {matcher.name} value(s) {bad} not in {sorted(allowed)}")
    return problems


# ---------------------------------------------------------------------------------------------
# Dashboard

#: Grafana units (packages/grafana-data/src/valueFormats/categories.ts) that fit this service.
VALID_UNITS = frozenset(
    {
        "none",
        "short",
        "percent",
        "percentunit",
        "s",
        "ms",
        "µs",
        "ns",
        "dtdurations",
        "dtdurationms",
        "reqps",
        "rps",
        "ops",
        "opm",
        "cps",
        "cpm",
        "wps",
        "iops",
        "bytes",
        "decbytes",
        "dateTimeAsIso",
        "dateTimeFromNow",
    }
)
DATASOURCE_REFS = frozenset({"$datasource", "${datasource}"})
LABEL_VALUES = re.compile(r"^label_values\((?P<selector>.+),\s*(?P<label>\w+)\)$")


def iter_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """All panels, including rows and the panels inside collapsed rows."""
    for panel in dashboard.get("panels", []):
        yield panel
        yield from panel.get("panels", [])


def query_panels(dashboard: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Panels that show data (everything but rows)."""
    return (p for p in iter_panels(dashboard) if p.get("type") != "row")


def dashboard_exprs(dashboard: dict[str, Any]) -> list[tuple[str, str]]:
    """``(panel title / refId, expr)`` of every target."""
    return [
        (f"{panel.get('title')!r}/{target.get('refId')}", target.get("expr", ""))
        for panel in query_panels(dashboard)
        for target in panel.get("targets", [])
    ]


def _ds_uid(ref: Any) -> str | None:
    if isinstance(ref, dict):
        return ref.get("uid")
    return ref if isinstance(ref, str) else None


def _variable_query(variable: dict[str, Any]) -> str:
    query = variable.get("query")
    if isinstance(query, dict):
        query = query.get("query")
    return query if isinstance(query, str) else ""


def lint_dashboard(dashboard: dict[str, Any]) -> list[str]:
    """Problems of the dashboard as a list of messages (empty when it passes)."""
    problems: list[str] = []
    if not isinstance(dashboard.get("schemaVersion"), int) or dashboard["schemaVersion"] < 39:
        problems.append(f"schemaVersion {dashboard.get('schemaVersion')!r} < 39")
    if dashboard.get("uid") != "relaywarden-overview":
        problems.append(f"uid is {dashboard.get('uid')!r}, must stay 'relaywarden-overview'")
    if not dashboard.get("title"):
        problems.append("dashboard has no title")
    problems += _lint_variables(dashboard)

    seen_ids: set[Any] = set()
    for panel in iter_panels(dashboard):
        pid = panel.get("id")
        if not isinstance(pid, int):
            problems.append(f"panel {panel.get('title')!r} has no integer id")
        elif pid in seen_ids:
            problems.append(f"panel id {pid} is used twice")
        seen_ids.add(pid)
        if panel.get("type") != "row":
            problems += [f"panel {panel.get('title')!r}: {p}" for p in _lint_panel(panel)]
    if not seen_ids:
        problems.append("dashboard has no panels")
    return problems


def _lint_variables(dashboard: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("datasource")
    if ds is None:
        problems.append("no 'datasource' template variable")
    elif ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("'datasource' variable must be of type datasource, query prometheus")
    elif ds.get("label") != "Data source":
        problems.append("'datasource' variable must be labelled 'Data source'")
    for name in ("job", "instance"):
        var = variables.get(name)
        if var is None:
            problems.append(f"no {name!r} template variable")
            continue
        where = f"variable {name!r}"
        if var.get("type") != "query":
            problems.append(f"{where} must be a query variable")
        if _ds_uid(var.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"{where} must use the datasource variable")
        if var.get("label") != name.title():
            problems.append(f"{where} must be labelled {name.title()!r}")
        if not var.get("multi") or not var.get("includeAll") or var.get("allValue") != ".+":
            problems.append(f"{where} must be multi-select with All = '.+'")
        if var.get("refresh") != 2:
            problems.append(f"{where} must refresh on time range change (refresh: 2)")
        match = LABEL_VALUES.match(_variable_query(var).strip())
        if match is None or match["label"] != name:
            problems.append(f"{where} must be label_values(relaywarden_callbacks_total, {name})")
            continue
        try:
            selector = promql_parser.parse(match["selector"])
        except ValueError as exc:
            problems.append(f"{where}: selector does not parse: {exc}")
            continue
        if (
            not isinstance(selector, promql_parser.VectorSelector)
            or selector_name(selector) != "relaywarden_callbacks_total"
        ):
            problems.append(f"{where} must take label_values from relaywarden_callbacks_total")
    return problems


def _lint_panel(panel: dict[str, Any]) -> list[str]:
    problems: list[str] = []
    if not str(panel.get("title", "")).strip():
        problems.append("no title")
    if not str(panel.get("description", "")).strip():
        problems.append("no description")
    unit = panel.get("fieldConfig", {}).get("defaults", {}).get("unit")
    if unit not in VALID_UNITS:
        problems.append(f"unit {unit!r} is missing or not a Grafana unit")
    if _ds_uid(panel.get("datasource")) not in DATASOURCE_REFS:
        problems.append(f"datasource {panel.get('datasource')!r} is not the datasource variable")
    targets = panel.get("targets") or []
    if not targets:
        problems.append("no targets")
    ref_ids = [t.get("refId") for t in targets]
    if len(set(ref_ids)) != len(ref_ids):
        problems.append(f"duplicate refIds {ref_ids}")
    for target in targets:
        ref = target.get("refId")
        if _ds_uid(target.get("datasource")) not in DATASOURCE_REFS:
            problems.append(f"target {ref}: datasource is not the datasource variable")
        expr = target.get("expr", "")
        if not expr.strip():
            problems.append(f"target {ref}: empty expr")
            continue
        problems += [f"target {ref}: {p}" for p in lint_query(expr, DASHBOARD_QUERY_RULES)]
    return problems
