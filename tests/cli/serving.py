"""``relaywarden serve`` as a subprocess, until it is ready, for the CLI tests."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.cli.conftest import command
from tests.support.servers import free_port

__all__ = ["serving"]


@contextlib.contextmanager
def serving(env: dict[str, str], cwd: Path, *args: str) -> Iterator[tuple[str, list[str]]]:
    """``relaywarden serve`` until ready; yields its URL and (after exit) its stderr lines."""
    port = free_port()
    errors = cwd / f"serve-{port}.stderr"
    with errors.open("w") as sink:
        process = subprocess.Popen(
            [*command(), "serve", "--port", str(port), *args],
            env=env,
            cwd=cwd,
            stdout=subprocess.DEVNULL,
            stderr=sink,
        )
    base = f"http://127.0.0.1:{port}"
    lines: list[str] = []
    try:
        deadline = time.monotonic() + 30
        while True:
            assert process.poll() is None, errors.read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "serve did not become ready"
            time.sleep(0.1)
        yield base, lines
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=30)
        lines += errors.read_text().splitlines()
