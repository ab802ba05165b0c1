"""Fixtures of the receiver tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.receiver.helpers import Server, running_server


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """relaywarden (callback token, TRTC key, no admin token) on a fresh SQLite file."""
    with running_server(tmp_path) as running:
        yield running
