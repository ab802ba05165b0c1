"""The README and docs/ stay true to the code.

Each check reads the code for what exists (environment variables, Prometheus metrics, /api
routes) and the Markdown for what is documented, so adding a variable, a metric or a route
without documenting it fails here, and so does a link or a backticked repo path that no
longer exists. Alerts' ``runbook_url`` anchors are checked by tests/grafana/test_runbook_links.py.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from starlette.routing import BaseRoute, Mount, Route

from receiver.app import create_app
from receiver.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CODE_DIRS = (ROOT / "receiver", ROOT / "handlers")
DOCS = (ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md")))
#: Where the configuration table lives; every variable needs a row with its default there.
CONFIG_DOCS = (ROOT / "README.md", ROOT / "docs" / "configuration.md")

ENV_NAME = re.compile(r"RELAYWARDEN_[A-Z0-9_]*[A-Z0-9]")
METRIC_CONSTRUCTORS = frozenset(
    {
        "Counter",
        "Gauge",
        "Histogram",
        "Summary",
        "Info",
        "Enum",
        "GaugeMetricFamily",
        "CounterMetricFamily",
        "HistogramMetricFamily",
        "SummaryMetricFamily",
        "InfoMetricFamily",
    }
)
#: A table row whose first cell is one backticked variable: ``| `NAME` | default | meaning |``.
TABLE_ROW = re.compile(r"^\|\s*`(RELAYWARDEN_[A-Z0-9_]+)`\s*\|([^|]*)\|([^|]*)\|", re.M)
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)")
BACKTICKED = re.compile(r"`([^`\n]+)`")
REPO_PATH = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*/?")
API_MENTION = re.compile(r"\b(GET|POST|PUT|DELETE|PATCH) (/api/[A-Za-z0-9_/{}.:-]*[A-Za-z0-9_}])")
PARAM = re.compile(r"\{[^}]*\}")
FENCE = re.compile(r"^```.*?^```", re.M | re.S)


def _python_files() -> Iterator[Path]:
    for directory in CODE_DIRS:
        yield from sorted(directory.rglob("*.py"))


def _trees() -> Iterator[ast.AST]:
    for path in _python_files():
        yield ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def env_variables_in_code() -> set[str]:
    """Every ``RELAYWARDEN_*`` name that appears as a whole string literal in the code."""
    return {
        node.value
        for tree in _trees()
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and ENV_NAME.fullmatch(node.value)
    }


def metric_names_in_code() -> set[str]:
    """The first argument of every prometheus_client metric or metric family constructed."""
    names: set[str] = set()
    for tree in _trees():
        for node in ast.walk(tree):
            if not isinstance(node, ast.Call) or not node.args:
                continue
            func = node.func
            called = func.id if isinstance(func, ast.Name) else getattr(func, "attr", "")
            first = node.args[0]
            if (
                called in METRIC_CONSTRUCTORS
                and isinstance(first, ast.Constant)
                and isinstance(first.value, str)
            ):
                names.add(first.value)
    return names


def api_routes(routes: Iterable[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(method, path) of every route under ``/api``, parameters written ``{}``."""
    for route in routes:
        if isinstance(route, Mount):
            yield from api_routes(route.routes, prefix + route.path)
        elif isinstance(route, Route):
            path = prefix + route.path
            if path.startswith("/api/"):
                for method in sorted((route.methods or set()) - {"HEAD"}):
                    yield method, PARAM.sub("{}", path)


def documented_api(text: str) -> set[tuple[str, str]]:
    """Every ``METHOD /api/...`` the text names, parameters written ``{}``."""
    return {(m, PARAM.sub("{}", p)) for m, p in API_MENTION.findall(text)}


def config_rows(text: str) -> dict[str, str]:
    """Variable -> default cell of the configuration tables in ``text``."""
    return {name: default.strip() for name, default, _meaning in TABLE_ROW.findall(text)}


def _all_docs_text() -> str:
    return "\n".join(path.read_text(encoding="utf-8") for path in DOCS)


def _top_level() -> set[str]:
    return {p.name for p in ROOT.iterdir() if not p.name.startswith(".venv")}


def repo_paths(text: str, top_level: set[str]) -> set[str]:
    """Backticked words that look like repo paths: slash-separated, first part a top-level entry."""
    found: set[str] = set()
    for snippet in BACKTICKED.findall(FENCE.sub("", text)):
        candidate = snippet.strip()
        if "/" not in candidate or not REPO_PATH.fullmatch(candidate):
            continue
        if candidate.split("/", 1)[0] in top_level:
            found.add(candidate)
    return found


def relative_links(text: str) -> set[str]:
    """Link targets that are neither URLs nor in-page anchors."""
    return {
        target
        for target in LINK.findall(FENCE.sub("", text))
        if not re.match(r"[a-z][a-z0-9+.-]*:", target) and not target.startswith("#")
    }


def heading_anchors(text: str) -> set[str]:
    """GitHub's anchors for the headings of a Markdown text."""
    anchors: set[str] = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", FENCE.sub("", text), re.M):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        anchors.add(slug)
    return anchors


def test_every_env_variable_is_documented_with_a_default() -> None:
    in_code = env_variables_in_code()
    assert "RELAYWARDEN_DATABASE_URL" in in_code  # the scan itself works
    rows: dict[str, str] = {}
    for path in CONFIG_DOCS:
        if path.exists():
            rows.update(config_rows(path.read_text(encoding="utf-8")))
    missing = sorted(in_code - rows.keys())
    assert not missing, f"in no configuration table of README.md/docs/configuration.md: {missing}"
    no_default = sorted(name for name in in_code if not rows[name])
    assert not no_default, f"documented without a default: {no_default}"


def test_every_metric_is_documented() -> None:
    in_code = metric_names_in_code()
    assert "relaywarden_callbacks_total" in in_code and "relaywarden_relays" in in_code
    text = _all_docs_text()
    missing = sorted(n for n in in_code if not re.search(rf"`{re.escape(n)}[`{{]", text))
    assert not missing, f"metrics named nowhere in README.md/docs/ (in backticks): {missing}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_relative_links_resolve(doc: Path) -> None:
    broken: list[str] = []
    for target in sorted(relative_links(doc.read_text(encoding="utf-8"))):
        file_part, _, anchor = target.partition("#")
        destination = (doc.parent / file_part).resolve() if file_part else doc
        if not destination.exists() or (
            anchor
            and destination.suffix == ".md"
            and anchor not in heading_anchors(destination.read_text(encoding="utf-8"))
        ):
            broken.append(target)
    assert not broken, f"{doc.name}: links to nothing: {broken}"


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.relative_to(ROOT).as_posix())
def test_backticked_repo_paths_exist(doc: Path) -> None:
    paths = repo_paths(doc.read_text(encoding="utf-8"), _top_level())
    missing = sorted(p for p in paths if not (ROOT / p).exists())
    assert not missing, f"{doc.name} names paths that are not in the repo: {missing}"


def test_every_api_route_is_documented(tmp_path: Path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'docs.db'}"))
    in_app = set(api_routes(app.routes))
    assert ("GET", "/api/relays") in in_app
    missing = sorted(in_app - documented_api(_all_docs_text()))
    assert not missing, f"/api routes named nowhere as `METHOD /api/...`: {missing}"
