"""The dashboard and the alert rules work against a real Prometheus scraping a real relaywarden.

``relaywarden serve`` runs as a subprocess on a loopback port with a throw-away SQLite file; a
``prometheus`` binary scrapes it every second with the alert rules loaded. Traffic covering
every callback outcome is sent, and then every PromQL expression of the dashboard (Grafana
variables substituted as Grafana would) and of the alert rules is evaluated through the HTTP
API: all must be valid, the callback panels must show the traffic, and the callback alerts
must react to it.

Needs the ``prometheus`` binary (Debian package ``prometheus``): skipped when absent, failed
instead when RELAYWARDEN_REQUIRE_INTEGRATION=1. Linux only (the 503 case uses prlimit).
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import hmac
import json
import math
import os
import resource
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
import yaml

from tests.grafana.promql_lint import dashboard_exprs, query_panels, substitute
from tests.support.integration import require_binary
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "grafana" / "dashboards" / "relaywarden.json"
RULES = ROOT / "grafana" / "alerts" / "relaywarden.rules.yml"

CALLBACK_TOKEN = "integration-callback-token"
TRTC_KEY = "integration-trtc-key"
JOB = "relaywarden"
#: What Grafana would put in $__rate_interval for this scrape interval; wide enough that the
#: window always holds the sample taken before the traffic.
RATE_INTERVAL = "1m"

T = TypeVar("T")


def wait_for(what: str, probe: Callable[[], T | None], timeout: float = 30.0) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value is not None and value is not False:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


@dataclass
class Process:
    name: str
    popen: subprocess.Popen[bytes]
    output: list[bytes] = field(default_factory=list)

    def __post_init__(self) -> None:
        assert self.popen.stdout is not None
        stream = self.popen.stdout
        # A pipe drained by a thread: the logs stay readable for failure messages, and the
        # child never writes to a regular file (see the prlimit trick below).
        threading.Thread(target=lambda: self.output.extend(stream), daemon=True).start()

    def logs(self, lines: int = 40) -> str:
        return b"".join(self.output[-lines:]).decode(errors="replace")

    def check_alive(self) -> None:
        if self.popen.poll() is not None:
            pytest.fail(f"{self.name} exited with {self.popen.returncode}:\n{self.logs()}")

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(timeout=5)


def start(name: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
    popen = subprocess.Popen(
        argv, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    return Process(name, popen)


@dataclass
class Stack:
    relaywarden: Process
    relaywarden_url: str
    instance: str
    prometheus: Process
    prometheus_url: str
    http: httpx.Client
    #: Callback outcome -> (HTTP status, count) actually answered, filled by ``traffic``.
    answered: Counter[tuple[str, int]] = field(default_factory=Counter)

    def query(self, promql: str) -> dict[str, Any]:
        """Evaluate ``promql`` now; the ``data`` of a successful answer."""
        response = self.http.get(f"{self.prometheus_url}/api/v1/query", params={"query": promql})
        body = response.json()
        assert response.status_code == 200 and body.get("status") == "success", (
            f"{promql}\n-> {response.status_code} {body}"
        )
        return dict(body["data"])

    def vector(self, promql: str) -> list[dict[str, Any]]:
        data = self.query(promql)
        assert data["resultType"] == "vector", data
        return list(data["result"])

    def scalar_sum(self, promql: str) -> float | None:
        result = self.vector(promql)
        return sum(float(s["value"][1]) for s in result) if result else None


def relaywarden_binary() -> str:
    path = Path(sys.executable).with_name("relaywarden")
    if not path.is_file():
        pytest.fail(f"{path} is missing: install the project (pip install -e .)")
    return str(path)


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    prometheus_bin = require_binary("prometheus", hint="apt-get install prometheus")
    if not hasattr(resource, "prlimit"):
        pytest.skip("needs Linux prlimit to make the store fail for the 503 case")
    tmp = tmp_path_factory.mktemp("prometheus-integration")
    rw_port, prom_port = free_port(), free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")},
        "RELAYWARDEN_DATABASE_URL": f"sqlite:///{tmp / 'relaywarden.db'}",
        "RELAYWARDEN_CALLBACK_TOKEN": CALLBACK_TOKEN,
        "RELAYWARDEN_TRTC_CALLBACK_KEY": TRTC_KEY,
        # Follow-up jobs must never leave the machine: point the providers at a closed port.
        "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": "http://127.0.0.1:9",
        "RELAYWARDEN_TRTC_ENDPOINT": "http://127.0.0.1:9",
        "RELAYWARDEN_LOG_FORMAT": "json",
    }
    relaywarden = start(
        "relaywarden",
        [relaywarden_binary(), "serve", "--host", "127.0.0.1", "--port", str(rw_port)],
        env,
    )
    processes = [relaywarden]
    http = httpx.Client(timeout=20)
    try:
        rw_url = f"http://127.0.0.1:{rw_port}"

        def healthy() -> bool:
            relaywarden.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                return http.get(f"{rw_url}/healthz").status_code == 200
            return False

        wait_for("relaywarden /healthz", healthy)

        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(RULES)],
            "scrape_configs": [
                {
                    "job_name": JOB,
                    "scrape_interval": "1s",
                    "static_configs": [{"targets": [f"127.0.0.1:{rw_port}"]}],
                }
            ],
        }
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(config), encoding="utf-8")
        prometheus = start(
            "prometheus",
            [
                prometheus_bin,
                f"--config.file={tmp / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp / 'data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
                "--log.level=warn",
            ],
        )
        processes.append(prometheus)
        stack = Stack(
            relaywarden=relaywarden,
            relaywarden_url=rw_url,
            instance=f"127.0.0.1:{rw_port}",
            prometheus=prometheus,
            prometheus_url=f"http://127.0.0.1:{prom_port}",
            http=http,
        )

        def ready() -> bool:
            prometheus.check_alive()
            with contextlib.suppress(httpx.HTTPError):
                return http.get(f"{stack.prometheus_url}/-/ready").status_code == 200
            return False

        wait_for("prometheus /-/ready", ready)
        # One scrape of the pre-initialised (zero) counters before any traffic, so that
        # rate() has a "before" sample.
        wait_for(
            "a first scrape",
            lambda: stack.scalar_sum(f'count(relaywarden_callbacks_total{{job="{JOB}"}})'),
        )
        yield stack
    finally:
        http.close()
        for process in reversed(processes):
            process.stop()


# --- traffic --------------------------------------------------------------------------------


def aliyun_body(task_id: str, status: int = 1, reason: str | None = None) -> bytes:
    body: dict[str, Any] = {
        "Event": "LivePullToPushStart" if status == 1 else "LivePullToPushOffline",
        "EventTime": str(int(time.time())),
        "TaskId": task_id,
        "TaskStatus": str(status),
        "TaskInfo": {"TaskId": task_id},
    }
    if reason:
        body["TaskInvalidReason"] = reason
    return json.dumps(body).encode()


def trtc_sign(body: bytes, key: str = TRTC_KEY) -> str:
    return base64.b64encode(hmac.new(key.encode(), body, hashlib.sha256).digest()).decode()


def send_traffic(stack: Stack) -> None:
    aliyun = f"{stack.relaywarden_url}/callbacks/aliyun/pull-to-push"
    trtc = f"{stack.relaywarden_url}/callbacks/trtc"

    def post(outcome: str, url: str, body: bytes, **kwargs: Any) -> None:
        try:
            status = stack.http.post(url, content=body, **kwargs).status_code
        except httpx.TransportError:  # the server may close early on a refused 1 MiB body
            status = 0
        stack.answered[(outcome, status)] += 1

    ok = {"token": CALLBACK_TOKEN}
    sent: list[bytes] = []
    for i in range(12):
        body = aliyun_body(f"it-task-{i}")
        sent.append(body)
        post("accepted", aliyun, body, params=ok)
    ingest = json.dumps(
        {
            "EventGroupId": 7,
            "EventType": 701,
            "CallbackMsTs": int(time.time() * 1000),
            "EventInfo": {"EventMsTs": int(time.time() * 1000), "TaskId": "it-ingest", "Status": 0},
        }
    ).encode()
    post("accepted", trtc, ingest, headers={"Sign": trtc_sign(ingest), "SdkAppId": "1400000000"})
    for body in sent[:3]:
        post("duplicate", aliyun, body, params=ok)
    for i in range(8):
        post("unauthorized", aliyun, aliyun_body(f"x-{i}"), params={"token": "wrong"})
    post("unauthorized", aliyun, aliyun_body("x-none"))
    post("unauthorized", trtc, ingest, headers={"Sign": trtc_sign(ingest, "other-key")})
    post("malformed", aliyun, b"{not json", params=ok)
    post("malformed", aliyun, b"<xml/>", params=ok)
    post("malformed", trtc, b"not json", headers={"Sign": trtc_sign(b"not json")})
    post("unrecognized", aliyun, b'{"hello": "world"}', params=ok)
    room = b'{"EventGroupId": 1, "EventType": 103, "EventInfo": {"RoomId": "r"}}'
    post("unrecognized", trtc, room, headers={"Sign": trtc_sign(room)})
    post("too_large", aliyun, b"{" + b" " * (1024 * 1024) + b"}", params=ok)
    # 503: forbid relaywarden to write any file for a moment, so the store cannot commit.
    pid = stack.relaywarden.popen.pid
    unlimited = (resource.RLIM_INFINITY, resource.RLIM_INFINITY)
    resource.prlimit(pid, resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY))
    try:
        for i in range(2):
            post("unavailable", aliyun, aliyun_body(f"it-lost-{i}"), params=ok)
    finally:
        resource.prlimit(pid, resource.RLIMIT_FSIZE, unlimited)


EXPECTED_STATUS = {
    "accepted": 200,
    "duplicate": 200,
    "unauthorized": 401,
    "malformed": 400,
    "unrecognized": 202,
    "too_large": 413,
    "unavailable": 503,
}


@pytest.fixture(scope="module")
def traffic(stack: Stack) -> Stack:
    send_traffic(stack)
    total = sum(stack.answered.values())
    # Prometheus has scraped everything that was sent...
    wait_for(
        f"a scrape showing all {total} callbacks",
        lambda: stack.scalar_sum(f'sum(relaywarden_callbacks_total{{job="{JOB}"}})') == total,
    )
    # ...and the rules have been evaluated on it (the one alert without 'for' fires).
    wait_for("rule evaluation", lambda: firing_alerts(stack, "RelaywardenCallbacksUnrecognized"))
    return stack


def firing_alerts(stack: Stack, name: str, state: str = "firing") -> list[dict[str, Any]]:
    alerts = stack.http.get(f"{stack.prometheus_url}/api/v1/alerts").json()["data"]["alerts"]
    return [a for a in alerts if a["labels"]["alertname"] == name and a["state"] == state]


# --- tests ----------------------------------------------------------------------------------


def test_traffic_produced_every_callback_outcome(traffic: Stack) -> None:
    by_outcome: dict[str, set[int]] = {}
    for (outcome, status), _ in traffic.answered.items():
        by_outcome.setdefault(outcome, set()).add(status)
    for outcome, status in EXPECTED_STATUS.items():
        allowed = {status, 0} if outcome == "too_large" else {status}
        assert by_outcome.get(outcome, set()) <= allowed and by_outcome.get(outcome), (
            f"{outcome}: answered {by_outcome.get(outcome)}, expected {status}\n"
            + traffic.relaywarden.logs()
        )
    counted = {
        s["metric"]["outcome"]: round(float(s["value"][1]))
        for s in traffic.vector(f'sum by (outcome) (relaywarden_callbacks_total{{job="{JOB}"}})')
    }
    sent = Counter[str]()
    for (outcome, _), n in traffic.answered.items():
        sent[outcome] += n
    assert counted == dict(sent)


def dashboard() -> dict[str, Any]:
    return dict(json.loads(DASHBOARD.read_text(encoding="utf-8")))


def grafana_expr(expr: str, stack: Stack) -> str:
    """``expr`` as Grafana would send it with job/instance = this stack's target."""
    return substitute(
        expr,
        {
            "job": JOB,
            "instance": stack.instance.replace(".", "\\\\."),
            "__rate_interval": RATE_INTERVAL,
            "__interval": "1s",
        },
    )


#: Panels that the traffic above must fill.
TRAFFIC_PANELS = (
    "Callbacks by source and outcome",
    "Callback error and rejection ratio",
    "Callback ack latency (p50, p99)",
    "Unrecognized and duplicate callbacks",
)


def test_every_dashboard_query_is_valid(traffic: Stack) -> None:
    exprs = dashboard_exprs(dashboard())
    assert len(exprs) >= 15
    failures = []
    for where, expr in exprs:
        try:
            traffic.query(grafana_expr(expr, traffic))
        except AssertionError as exc:
            failures.append(f"{where}: {exc}")
    assert failures == []


def test_store_gauges_are_exported(traffic: Stack) -> None:
    """Panels built on the store collector's gauges have data (0 counts included)."""
    for title in ("Tasks by status", "Relays by state", "Pending jobs by action"):
        panel = next(p for p in query_panels(dashboard()) if p["title"] == title)
        for target in panel["targets"]:
            assert traffic.vector(grafana_expr(target["expr"], traffic)), title
    panel = next(p for p in query_panels(dashboard()) if p["title"] == "Oldest pending job age")
    (age,) = traffic.vector(grafana_expr(panel["targets"][0]["expr"], traffic))
    assert 0 <= float(age["value"][1]) < 3600, "age must be 0 or small, never time() - 0"


@pytest.mark.parametrize("title", TRAFFIC_PANELS)
def test_traffic_panels_show_the_traffic(traffic: Stack, title: str) -> None:
    panel = next(p for p in query_panels(dashboard()) if p["title"] == title)
    for target in panel["targets"]:
        result = traffic.vector(grafana_expr(target["expr"], traffic))
        assert result, f"{title}/{target['refId']} is empty"
        values = [float(s["value"][1]) for s in result]
        assert any(math.isfinite(v) and v > 0 for v in values), f"{title}: {result}"


def test_error_ratio_matches_the_traffic(traffic: Stack) -> None:
    panel = next(p for p in query_panels(dashboard()) if p["title"] == TRAFFIC_PANELS[1])
    (ratio,) = traffic.vector(grafana_expr(panel["targets"][0]["expr"], traffic))
    errors = sum(
        n
        for (outcome, _), n in traffic.answered.items()
        if outcome in {"unauthorized", "malformed", "too_large", "unavailable"}
    )
    # Every series is scraped at the same instants, so rate() extrapolates all alike.
    assert float(ratio["value"][1]) == pytest.approx(errors / sum(traffic.answered.values()))


def test_dashboard_variables_resolve(traffic: Stack) -> None:
    variables = {v["name"]: v for v in dashboard()["templating"]["list"]}
    for name in ("job", "instance"):
        query = variables[name]["query"]
        query = query["query"] if isinstance(query, dict) else query
        selector = query.removeprefix("label_values(").rsplit(",", 1)[0]
        selector = substitute(selector, {"job": JOB})
        response = traffic.http.get(
            f"{traffic.prometheus_url}/api/v1/label/{name}/values", params={"match[]": selector}
        )
        assert response.json()["status"] == "success", response.text
        expected = JOB if name == "job" else traffic.instance
        assert expected in response.json()["data"], (name, response.text)


def test_every_alert_rule_evaluates(traffic: Stack) -> None:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        traffic.query(rule["expr"])
    loaded = traffic.http.get(f"{traffic.prometheus_url}/api/v1/rules").json()["data"]["groups"]
    states = {r["name"]: (r["health"], r.get("lastError", "")) for g in loaded for r in g["rules"]}
    expected = {r["alert"] for g in groups for r in g["rules"]}
    assert set(states) == expected
    assert {name for name, (health, _) in states.items() if health != "ok"} == set(), states


def test_callback_alerts_react_to_the_traffic(traffic: Stack) -> None:
    target = {"job": JOB, "instance": traffic.instance}
    unrecognized = wait_for(
        "both sources' unrecognized alerts",
        lambda: (
            alerts
            if len(alerts := firing_alerts(traffic, "RelaywardenCallbacksUnrecognized")) == 2
            else None
        ),
        timeout=15,
    )
    assert {a["labels"]["source"] for a in unrecognized} == {"aliyun_pull_to_push", "trtc"}
    for alert in unrecognized:
        assert alert["labels"].items() >= target.items()
    # The ratios cross their thresholds only once all traffic is in (rules are evaluated every
    # second, possibly on a scrape taken mid-traffic): wait for an evaluation that saw it all.
    for name in (
        "RelaywardenCallbacksUnauthorized",
        "RelaywardenCallbacksRejected",
        "RelaywardenCallbacksUnavailable",
    ):
        (pending,) = wait_for(
            f"{name} pending",
            functools.partial(firing_alerts, traffic, name, state="pending"),
            timeout=15,
        )
        assert pending["labels"].items() >= target.items()
    for state in ("pending", "firing"):
        assert firing_alerts(traffic, "RelaywardenTargetDown", state) == []
