"""Finding the external server binaries that integration tests need (Prometheus, PostgreSQL).

A missing binary skips the test with a reason, except when RELAYWARDEN_REQUIRE_INTEGRATION=1
(as .ci/run sets it): then it fails, so that CI cannot pass by skipping.
"""

from __future__ import annotations

import os
import shutil

import pytest

REQUIRE_ENV = "RELAYWARDEN_REQUIRE_INTEGRATION"


def integration_required() -> bool:
    return os.environ.get(REQUIRE_ENV, "") == "1"


def require_binary(name: str, *, hint: str = "") -> str:
    """The path of executable ``name``; skip (or fail when required) if it is not on PATH."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name!r} is not on PATH" + (f" ({hint})" if hint else "")
    if integration_required():
        pytest.fail(f"{message}, and {REQUIRE_ENV}=1 requires it")
    pytest.skip(message)
