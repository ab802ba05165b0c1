"""``relaywarden demo`` / ``make demo``: relaywarden and a simulated provider on loopback.

It starts the simulated Alibaba Live API (``receiver.demo.provider``) and the full app of
``serve`` pointed at it, in a fresh data directory, declares a few relays, waits until they
run, then takes one relay's task offline the way a provider reports a failed source, and
narrates how relaywarden deletes it and creates a new one. Every ``--fail-every`` seconds
it fails the next relay. It prints the status page URL and the demo's admin token; the CLI
works against it with the two variables it prints. Nothing leaves 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import shutil
import signal
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import msgspec
import uvicorn

from receiver.assembly import build_app
from receiver.config import Settings
from receiver.demo.provider import SimulatedLive
from receiver.domain.relay import PullToPushSpec, RecreatePolicy, RelaySpec
from receiver.server import server_options

__all__ = ["DEMO_RELAYS", "DemoOptions", "demo_relay", "run_demo"]

#: The relays the demo declares (names; each pulls its own simulated stream).
DEMO_RELAYS = ("demo-news", "demo-sports", "demo-music")
_JSON = {"content-type": "application/json"}


@dataclass(frozen=True, slots=True)
class DemoOptions:
    """What ``relaywarden demo`` was asked for."""

    port: int = 8080
    data_dir: Path | None = None
    fail_after: float = 3.0
    fail_every: float = 30.0


class _Server(uvicorn.Server):
    """uvicorn without its own signal handling: the demo stops both servers itself."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


def _free_port(port: int = 0) -> int | None:
    """``port`` (any free one for 0) if it can be bound on 127.0.0.1 now, else None."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return None
        return int(sock.getsockname()[1])


def demo_relay(name: str) -> RelaySpec:
    """The declaration of one demo relay, running for six hours."""
    end = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 6 * 3600))
    return RelaySpec(
        name=name,
        pull_to_push=PullToPushSpec(
            Region="cn-shanghai",
            SourceType="live",
            SourceProtocol="rtmp",
            SourceUrls=[f"rtmp://source.demo.invalid/live/{name}"],
            DstUrl=f"rtmp://push.demo.invalid/live/{name}",
            EndTime=end,
        ),
        recreate=RecreatePolicy(max_attempts=100, within_seconds=3600, base_delay_seconds=1),
    )


def demo_settings(data_dir: Path, port: int, provider_url: str, admin_token: str) -> Settings:
    """``serve``'s settings for the demo: its own database, the simulated provider."""
    return Settings(
        port=port,
        database_url=f"sqlite:///{data_dir / 'relaywarden.db'}",
        admin_token=admin_token,
        aliyun_access_key_id="demo-access-key",
        aliyun_access_key_secret="demo-access-key-secret",
        aliyun_live_endpoint=provider_url,
        job_backoff_seconds=0.5,
        log_format="console",
    )


class _Demo:
    """The story the demo tells, against the running service's API."""

    def __init__(self, api: httpx.AsyncClient, provider: SimulatedLive, say: Callable[[str], None]):
        self.api = api
        self.provider = provider
        self.say = say
        self.relays: dict[str, str] = {}  # name -> id

    async def declare(self) -> None:
        for name in DEMO_RELAYS:
            answer = await self.api.put(
                f"/api/relays/{name}", content=msgspec.json.encode(demo_relay(name)), headers=_JSON
            )
            answer.raise_for_status()
            self.relays[name] = answer.json()["id"]
            self.say(f"declared relay {name} ({self.relays[name]})")

    async def running_task(self, name: str) -> tuple[str, int] | None:
        """(task id, generation) when the relay's current task runs, else None."""
        relay = (await self.api.get(f"/api/relays/{self.relays[name]}")).json()
        task_id = relay.get("current_task_id")
        if relay.get("state") != "active" or not task_id:
            return None
        task = await self.api.get(f"/api/tasks/aliyun/{task_id}")
        if task.status_code != 200 or task.json()["status"] != "running":
            return None
        return task_id, int(relay["generation"])

    async def wait_running(self, name: str, *, newer_than: int = 0) -> tuple[str, int]:
        while True:
            found = await self.running_task(name)
            if found is not None and found[1] > newer_than:
                return found
            await asyncio.sleep(0.2)

    async def fail_and_heal(self, name: str) -> None:
        task_id, generation = await self.wait_running(name)
        self.say(f"{name}: the provider reports task {task_id} offline (PullStreamFailed)")
        started = time.monotonic()
        await self.provider.fail(task_id)
        new_task, new_generation = await self.wait_running(name, newer_than=generation)
        self.say(
            f"{name}: healed in {time.monotonic() - started:.1f}s: task {task_id} deleted, "
            f"new task {new_task} running (generation {new_generation})"
        )


async def run_demo(options: DemoOptions, say: Callable[[str], None] = print) -> int:
    """Run the demo until interrupted (SIGINT or SIGTERM)."""
    port, provider_port = _free_port(options.port), _free_port()
    if port is None or provider_port is None:
        say(f"relaywarden demo: port {options.port} is taken; choose another with --port")
        return 2
    made = options.data_dir is None  # a directory of our own, removed when the demo stops
    data_dir = options.data_dir or Path(tempfile.mkdtemp(prefix="relaywarden-demo-"))
    data_dir.mkdir(parents=True, exist_ok=True)
    provider = SimulatedLive()
    admin_token = secrets.token_urlsafe(18)
    settings = demo_settings(data_dir, port, f"http://127.0.0.1:{provider_port}", admin_token)
    servers = [
        _Server(
            uvicorn.Config(
                provider.app,
                host="127.0.0.1",
                port=provider_port,
                log_config=None,
                access_log=False,
            )
        ),
        _Server(uvicorn.Config(build_app(settings, banner=False), **server_options(settings))),
    ]
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    serving = [asyncio.create_task(server.serve()) for server in servers]
    try:
        while not all(server.started for server in servers):
            if any(task.done() for task in serving):
                say("relaywarden demo: a server could not start")
                return 2
            await asyncio.sleep(0.05)
        base = f"http://127.0.0.1:{port}"
        say(
            f"relaywarden demo: data in {data_dir}, simulated provider at 127.0.0.1:{provider_port}"
        )
        say(f"status page: {base}/  (admin token: {admin_token})")
        say(f"CLI: export RELAYWARDEN_API_URL={base} RELAYWARDEN_ADMIN_TOKEN={admin_token}")
        say("     relaywarden status; relaywarden relays list")
        headers = {"Authorization": f"Bearer {admin_token}"}
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=10) as api:
            story = asyncio.create_task(_tell(_Demo(api, provider, say), options))
            await stop.wait()
            story.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await story
        return 0
    finally:
        for server in servers:
            server.should_exit = True
        await asyncio.gather(*serving, return_exceptions=True)
        if made:
            shutil.rmtree(data_dir, ignore_errors=True)
        say("relaywarden demo: stopped")


async def _tell(demo: _Demo, options: DemoOptions) -> None:
    await demo.declare()
    for name in DEMO_RELAYS:
        await demo.wait_running(name)
    demo.say(f"all {len(DEMO_RELAYS)} relays running")
    await asyncio.sleep(options.fail_after)
    turn = 0
    while True:
        await demo.fail_and_heal(DEMO_RELAYS[turn % len(DEMO_RELAYS)])
        turn += 1
        if options.fail_every <= 0:
            return
        await asyncio.sleep(options.fail_every)
