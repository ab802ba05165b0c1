"""``relaywarden serve`` as operators start it: build info on /metrics, the status page at /."""

from __future__ import annotations

import platform
import subprocess
from importlib.metadata import version
from pathlib import Path

import httpx

from tests.cli.conftest import cli_env, command
from tests.cli.serving import serving


def test_serve_exposes_build_info_and_the_status_page(tmp_path: Path) -> None:
    env = cli_env(None, None) | {
        "RELAYWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'rw.db'}",
        "RELAYWARDEN_CALLBACK_TOKEN": "serve-test-token",
    }
    with serving(env, tmp_path) as (base, _):
        metrics = httpx.get(f"{base}/metrics").text
        expected = (
            f'relaywarden_build_info{{python="{platform.python_version()}",'
            f'version="{version("relaywarden")}"}} 1.0'
        )
        assert expected in metrics.splitlines()
        page = httpx.get(f"{base}/")
        assert page.status_code == 200 and "No relays" in page.text

        status = subprocess.run(
            [*command(), "status"],
            # no RELAYWARDEN_API_URL: the CLI finds serve by RELAYWARDEN_PORT
            env=cli_env(None, None) | {"RELAYWARDEN_PORT": base.rsplit(":", 1)[1]},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert "readiness  ready" in status.stdout
