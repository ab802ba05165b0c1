"""Fixtures of the security suite: the end-to-end stack and the anyio backend."""

from __future__ import annotations

import pytest

from tests.e2e.conftest import stack, stack_factory

__all__ = ["stack", "stack_factory"]


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"
