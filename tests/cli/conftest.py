"""Run the ``relaywarden`` console script as a subprocess against a real running service."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.e2e.conftest import Stack, stack_factory

__all__ = ["stack_factory"]

ADMIN_TOKEN = "cli-admin-token-for-tests"


def command() -> list[str]:
    script = Path(sys.executable).with_name("relaywarden")
    return [str(script)] if script.exists() else [sys.executable, "-m", "receiver.cli"]


@dataclass
class Cli:
    """The CLI pointed at one service."""

    env: dict[str, str]

    def __call__(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*command(), *args],
            env=self.env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )


def cli_env(url: str | None, token: str | None) -> dict[str, str]:
    """The environment of a CLI run: the test's, minus every RELAYWARDEN_ variable."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RELAYWARDEN_")}
    if url is not None:
        env["RELAYWARDEN_API_URL"] = url
    if token is not None:
        env["RELAYWARDEN_ADMIN_TOKEN"] = token
    return env


@pytest.fixture
def service(stack_factory: Callable[..., Stack]) -> Stack:
    """A running relaywarden (with fake providers) that requires the admin token."""
    stack = stack_factory(admin_token=ADMIN_TOKEN)
    stack.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return stack


@pytest.fixture
def cli(service: Stack) -> Cli:
    """The CLI with RELAYWARDEN_API_URL and RELAYWARDEN_ADMIN_TOKEN set for ``service``."""
    return Cli(cli_env(service.url, ADMIN_TOKEN))
