"""The status page in a real headless Chromium against a real relaywarden server."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image, ImageStat
from playwright.sync_api import Browser, Page, expect

from tests.e2e.conftest import Stack
from tests.support.seeding import Seeded, active_relay, run_task
from tests.web.conftest import ADMIN_TOKEN


def logged_in(browser: Browser, stack: Stack, path: str = "/") -> Page:
    """A page that went through the login form and landed on ``path``."""
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    page.goto(stack.url + path)
    page.fill("#token", ADMIN_TOKEN)
    page.click("form.login button")
    page.wait_for_url(stack.url + path)
    return page


def row(page: Page, relay_id: str):  # type: ignore[no-untyped-def]
    return page.locator(f'tr.relay[data-relay-id="{relay_id}"]')


def test_login_form_sets_an_httponly_strict_cookie(
    browser: Browser, guarded: tuple[Stack, Seeded]
) -> None:
    stack, _ = guarded
    page = browser.new_page()
    page.goto(stack.url + "/")
    assert page.url.startswith(stack.url + "/login")
    page.fill("#token", "not-the-token")
    page.click("form.login button")
    expect(page.locator("p.error")).to_contain_text("not RELAYWARDEN_ADMIN_TOKEN")
    assert not page.context.cookies()

    page.fill("#token", ADMIN_TOKEN)
    page.click("form.login button")
    page.wait_for_url(stack.url + "/")
    expect(page.locator("h1")).to_have_text("Relays")
    (cookie,) = page.context.cookies()
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict"
    assert cookie["value"] != ADMIN_TOKEN and ADMIN_TOKEN not in cookie["value"]
    assert page.evaluate("document.cookie") == ""  # scripts cannot read it

    page.click("form.logout button")
    page.wait_for_url(stack.url + "/login")
    page.goto(stack.url + "/")
    assert page.url.startswith(stack.url + "/login")
    page.close()


def test_table_filter_and_detail(browser: Browser, guarded: tuple[Stack, Seeded]) -> None:
    stack, seeded = guarded
    page = logged_in(browser, stack)
    expect(page.locator("tr.relay")).to_have_count(3)
    expect(row(page, seeded.running).locator("td.state")).to_have_text("active")
    expect(row(page, seeded.running).locator("td.task-status")).to_contain_text("running")
    expect(row(page, seeded.quiet).locator("td.task-status")).to_have_text("—")
    failed = row(page, seeded.failed)
    expect(failed.locator("td.state")).to_have_text("failed")
    expect(failed.locator("td.task-status")).to_contain_text("offline")
    expect(failed.locator("td.task-status")).to_contain_text("PullStreamFailed")
    expect(failed.locator("td.failure")).to_contain_text("gave up re-creating after 1 attempts")

    page.click('nav.filters a[data-state="failed"]')
    page.wait_for_url("**/?state=failed*")
    expect(page.locator("tr.relay")).to_have_count(1)
    expect(row(page, seeded.failed)).to_be_visible()
    page.click('nav.filters a[data-state="pending"]')
    expect(page.locator("p.empty")).to_contain_text("No relays in state pending")

    page.goto(stack.url + "/?state=failed")
    row(page, seeded.failed).locator("a").first.click()
    page.wait_for_url(f"{stack.url}/relays/{seeded.failed}")
    expect(page.locator("h1")).to_contain_text("beta-failed")
    events = page.locator("tr.event")
    # Both generations' tasks: running, offline (first task), offline (second task).
    expect(events).to_have_count(3)
    expect(page.locator("tr.event.status-offline")).to_have_count(2)
    first, second = (
        stack.aliyun.tasks[i].task_id
        for i, t in enumerate(stack.aliyun.tasks)
        if "beta-failed" in t.dst_url
    )
    tasks_shown = set(page.locator("tr.event td.mono").all_inner_texts())
    assert tasks_shown == {first, second}
    expect(page.locator("tr.job", has_text="recreate")).to_have_count(2)
    expect(page.locator("dd.failure")).to_contain_text("PullStreamFailed")
    page.close()


def test_table_refreshes_without_a_reload(browser: Browser, guarded: tuple[Stack, Seeded]) -> None:
    stack, seeded = guarded
    page = logged_in(browser, stack, "/?refresh=1")
    page.evaluate("window.__sameDocument = true")
    status = row(page, seeded.quiet).locator("td.task-status")
    expect(status).to_have_text("—")

    run_task(stack, str(stack.relay(seeded.quiet)["current_task_id"]))
    expect(status).to_contain_text("running", timeout=10_000)
    late, _ = active_relay(stack, "delta-late")
    expect(row(page, late)).to_be_visible(timeout=10_000)
    assert page.evaluate("window.__sameDocument") is True  # no navigation happened
    page.close()


def test_failed_relay_row_is_red(
    browser: Browser, guarded: tuple[Stack, Seeded], tmp_path: Path
) -> None:
    stack, seeded = guarded
    page = logged_in(browser, stack)
    expect(row(page, seeded.failed)).to_be_visible()
    shot = Image.open(io.BytesIO(page.screenshot(full_page=True))).convert("RGB")

    def mean_rgb(relay_id: str) -> list[float]:
        box = row(page, relay_id).bounding_box()
        assert box is not None
        left, top = int(box["x"]), int(box["y"])
        region = shot.crop((left, top, left + int(box["width"]), top + int(box["height"])))
        return list(ImageStat.Stat(region).mean)

    red, green, blue = mean_rgb(seeded.failed)
    assert red > 150 and red > green + 60 and red > blue + 60, (red, green, blue)
    for healthy in (seeded.running, seeded.quiet):
        r, g, b = mean_rgb(healthy)
        assert abs(r - g) < 30 and abs(r - b) < 30, (healthy, r, g, b)
    page.screenshot(path=str(tmp_path / "status.png"), full_page=True)
    page.close()
