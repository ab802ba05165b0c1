"""Every alert links a section of docs/runbook.md that exists."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
RULES = ROOT / "grafana" / "alerts" / "relaywarden.rules.yml"
RUNBOOK = ROOT / "docs" / "runbook.md"


def anchors(markdown: str) -> set[str]:
    """Heading anchors as a Markdown renderer makes them (lower case, spaces to dashes)."""
    found = set()
    for heading in re.findall(r"^#{1,6} +(.+?) *$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")
        found.add(slug)
    return found


def test_every_alert_has_a_runbook_section() -> None:
    rules = [r for g in yaml.safe_load(RULES.read_text())["groups"] for r in g["rules"]]
    known = anchors(RUNBOOK.read_text(encoding="utf-8"))
    for rule in rules:
        url = rule["annotations"].get("runbook_url", "")
        path, _, anchor = url.partition("#")
        assert path == "docs/runbook.md", (rule["alert"], url)
        assert anchor == rule["alert"].lower() and anchor in known, (rule["alert"], url)


def test_runbook_links_between_sections_resolve() -> None:
    text = RUNBOOK.read_text(encoding="utf-8")
    known = anchors(text)
    links = re.findall(r"\]\(#([^)]+)\)", text)
    assert links and set(links) <= known
