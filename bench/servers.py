"""The servers under test, as real processes on 127.0.0.1: ``relaywarden serve`` and the
bare Starlette endpoint (``bench/bare_app.py``), both under uvicorn with the same options.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

__all__ = [
    "CALLBACK_PATH",
    "TOKEN",
    "Server",
    "bare_endpoint",
    "relaywarden",
    "store_bytes",
]

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
TOKEN = "bench-token-0123456789abcdef"
CALLBACK_PATH = "/callbacks/aliyun/pull-to-push"
#: Nothing listens on the discard port: provider calls fail at once, on this machine.
UNREACHABLE = "http://127.0.0.1:9"
_SAMPLE = re.compile(r"([a-zA-Z_:][\w:]*)(?:\{(.*)\})? (\S+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Server:
    """One server process and where it listens."""

    name: str
    process: subprocess.Popen[bytes]
    base_url: str
    callback_url: str  # the URL to POST Alibaba callbacks to
    log: Path
    database: Path | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def rss_bytes(self) -> int:
        """Resident set size of the process now (Linux ``/proc``)."""
        status = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(r"^VmRSS:\s+(\d+) kB", status, re.MULTILINE)
        if match is None:
            raise RuntimeError(f"no VmRSS for pid {self.pid}")
        return int(match[1]) * 1024

    def metric(self, name: str, **labels: str) -> float:
        """Sum of the ``/metrics`` samples of ``name`` whose labels include ``labels``."""
        text = httpx.get(f"{self.base_url}/metrics", timeout=10).text
        total = 0.0
        for line in text.splitlines():
            match = _SAMPLE.fullmatch(line)
            if match is None or match[1] != name:
                continue
            found = dict(_LABEL.findall(match[2] or ""))
            if all(found.get(key) == value for key, value in labels.items()):
                total += float(match[3])
        return total

    def accepted(self) -> int:
        """Alibaba callbacks relaywarden acknowledged as new events so far."""
        return int(self.metric("relaywarden_callbacks_total", outcome="accepted"))

    def duplicates(self) -> int:
        return int(self.metric("relaywarden_callbacks_total", outcome="duplicate"))


def store_bytes(database: Path) -> int:
    """Bytes the store's pages hold (WAL content included, free pages excluded)."""
    conn = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
    try:
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
    finally:
        conn.close()
    return int((pages - free) * page_size)


def _wait_ready(server: Server, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            tail = server.log.read_text(errors="replace")[-2000:]
            raise SystemExit(f"{server.name} exited with {server.process.returncode}:\n{tail}")
        try:
            # The bare endpoint has no /healthz: any answer means it listens.
            httpx.get(f"{server.base_url}/healthz", timeout=1)
            return
        except httpx.TransportError:
            time.sleep(0.05)
    raise SystemExit(f"{server.name} at {server.base_url} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@contextlib.contextmanager
def _serve(
    name: str, command: list[str], env: dict[str, str], port: int, path: str, log: Path
) -> Iterator[Server]:
    base = f"http://127.0.0.1:{port}"
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
    server = Server(name, process, base, base + path, log)
    try:
        _wait_ready(server)
        yield server
    finally:
        _stop(process)


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}


@contextlib.contextmanager
def bare_endpoint(workdir: Path) -> Iterator[Server]:
    """``bench/bare_app.py``: reads the body, answers 200, nothing else."""
    port = free_port()
    command = [sys.executable, str(HERE / "bare_app.py"), "--port", str(port)]
    with _serve(
        "bare Starlette", command, _clean_env(), port, CALLBACK_PATH, workdir / "bare.log"
    ) as server:
        yield server


@contextlib.contextmanager
def relaywarden(workdir: Path, name: str = "relaywarden", **settings: str) -> Iterator[Server]:
    """``relaywarden serve`` on a fresh SQLite file in ``workdir``.

    ``settings`` are extra ``RELAYWARDEN_*`` variables (keys without the prefix, any case).
    Provider endpoints default to a closed local port, so nothing ever leaves the machine.
    """
    port = free_port()
    database = workdir / f"{name}.db"
    env = {
        **_clean_env(),
        "RELAYWARDEN_PORT": str(port),
        "RELAYWARDEN_DATABASE_URL": f"sqlite:///{database}",
        "RELAYWARDEN_CALLBACK_TOKEN": TOKEN,
        "RELAYWARDEN_ALIYUN_LIVE_ENDPOINT": UNREACHABLE,
        "RELAYWARDEN_TRTC_ENDPOINT": UNREACHABLE,
        # The loads adopt every task id they use (thousands, in bursts): measure that work,
        # not the adoption bounds' refusals.
        "RELAYWARDEN_ADOPT_MAX_RELAYS": "10000000",
        "RELAYWARDEN_ADOPT_PER_MINUTE": "10000000",
    }
    env.update({f"RELAYWARDEN_{key.upper()}": value for key, value in settings.items()})
    command = [sys.executable, "-m", "receiver.cli", "serve"]
    path = f"{CALLBACK_PATH}?token={TOKEN}"
    with _serve(name, command, env, port, path, workdir / f"{name}.log") as server:
        server.database = database
        yield server
