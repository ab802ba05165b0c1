"""Browser fixtures: Debian's Chromium driven by Playwright, never a downloaded browser."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser

from tests.e2e.conftest import Stack, stack_factory
from tests.support.integration import require_binary
from tests.support.seeding import Seeded, seed

__all__ = ["stack_factory"]

ADMIN_TOKEN = "web-admin-token-for-tests"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per module (``apt-get install chromium``)."""
    path = require_binary("chromium", hint="apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=path, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture
def guarded(stack_factory: Callable[..., Stack]) -> tuple[Stack, Seeded]:
    """A relaywarden with an admin token and three seeded relays."""
    stack = stack_factory(admin_token=ADMIN_TOKEN)
    stack.http.headers["Authorization"] = f"Bearer {ADMIN_TOKEN}"
    return stack, seed(stack)
