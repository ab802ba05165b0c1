"""The Makefile: ``make serve`` and ``make demo`` install only the runtime dependencies,
``make test`` the test tools too (read from ``make -n``, which runs nothing)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def dry_run(target: str, venv: Path) -> list[str]:
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    result = subprocess.run(
        ["make", "-n", target, f"VENV={venv}"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in result.stdout.splitlines() if "pip install" in line]


@pytest.mark.parametrize("target", ["serve", "demo"])
def test_serve_and_demo_install_runtime_dependencies_only(target: str, tmp_path: Path) -> None:
    installs = dry_run(target, tmp_path / "venv")
    assert installs[-1].endswith("install --quiet -e .")
    assert not any("[test]" in line for line in installs)


def test_test_installs_the_test_tools(tmp_path: Path) -> None:
    installs = dry_run("unit", tmp_path / "venv")
    assert installs[-1].endswith("install --quiet -e '.[test]'")
