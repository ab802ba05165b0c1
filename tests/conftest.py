"""Every test runs with its own data directory: nothing is ever written into the home."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(scope="session", autouse=True)
def isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """``RELAYWARDEN_DATA_DIR`` (and ``XDG_DATA_HOME``) point into the session's temp dir.

    Set in ``os.environ``, so subprocesses (``relaywarden serve``, the CLI) inherit it.
    """
    root = tmp_path_factory.mktemp("data")
    saved = {k: os.environ.get(k) for k in ("RELAYWARDEN_DATA_DIR", "XDG_DATA_HOME")}
    os.environ["RELAYWARDEN_DATA_DIR"] = str(root / "relaywarden")
    os.environ["XDG_DATA_HOME"] = str(root / "xdg")
    try:
        yield root / "relaywarden"
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
