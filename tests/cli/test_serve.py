"""``relaywarden serve`` as operators start it: build info on /metrics, the status page at /."""

from __future__ import annotations

import platform
import subprocess
import time
from importlib.metadata import version
from pathlib import Path

import httpx

from tests.cli.conftest import cli_env, command
from tests.support.servers import free_port


def test_serve_exposes_build_info_and_the_status_page(tmp_path: Path) -> None:
    port = free_port()
    env = cli_env(None, None) | {
        "RELAYWARDEN_DATABASE_URL": f"sqlite:///{tmp_path / 'rw.db'}",
        "RELAYWARDEN_CALLBACK_TOKEN": "serve-test-token",
    }
    process = subprocess.Popen(
        [*command(), "serve", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, process.communicate()[1]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
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
            env=cli_env(None, None) | {"RELAYWARDEN_PORT": str(port)},
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert status.returncode == 0, status.stderr
        assert "readiness  ready" in status.stdout
    finally:
        process.terminate()
        process.wait(timeout=20)
