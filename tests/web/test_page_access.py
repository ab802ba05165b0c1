"""Who sees the status page, and how bad requests to it are answered (real server, httpx)."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.e2e.conftest import Stack
from tests.support.seeding import active_relay
from tests.web.conftest import ADMIN_TOKEN


def test_pages_need_the_admin_token_or_the_session_cookie(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory(admin_token=ADMIN_TOKEN)
    with httpx.Client(base_url=stack.url, follow_redirects=False) as anonymous:
        page = anonymous.get("/relays/abc?refresh=2")
        assert page.status_code == 303
        assert page.headers["location"] == "/login?next=%2Frelays%2Fabc%3Frefresh%3D2"
        fragment = anonymous.get(
            "/relays/table", headers={"X-Requested-With": "relaywarden-refresh"}
        )
        assert fragment.status_code == 401
        assert fragment.json()["error"]["code"] == "unauthorized"
        wrong = anonymous.get("/", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 303
        assert anonymous.get("/static/style.css").status_code == 200

        refused = anonymous.post("/login", data={"token": "nope", "next": "/"})
        assert refused.status_code == 401 and "set-cookie" not in refused.headers
        accepted = anonymous.post(
            "/login", data={"token": ADMIN_TOKEN, "next": "https://evil.example/x"}
        )
        assert accepted.status_code == 303
        assert accepted.headers["location"] == "/"  # never off-site after login
        cookie = accepted.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=strict" in cookie
        assert ADMIN_TOKEN.lower() not in cookie
        assert anonymous.get("/").status_code == 200  # the client kept the cookie
        # The session cookie opens the pages, not the API.
        assert anonymous.get("/api/relays").status_code == 401

    bearer = httpx.get(f"{stack.url}/", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
    assert bearer.status_code == 200 and "<h1>Relays</h1>" in bearer.text


def test_pages_are_open_without_an_admin_token_and_answer_bad_input(
    stack_factory: Callable[..., Stack],
) -> None:
    stack = stack_factory()
    relay_id, task_id = active_relay(stack, "open-relay")
    hostile, _ = active_relay(stack, "<script>alert(1)</script>")
    page = stack.http.get("/")
    assert page.status_code == 200 and "open-relay" in page.text and task_id in page.text
    assert "<script>alert(1)" not in page.text and "&lt;script&gt;alert(1)" in page.text
    assert "&lt;script&gt;" in stack.http.get(f"/relays/{hostile}").text
    assert stack.http.get("/login", follow_redirects=False).status_code == 303

    bad_state = stack.http.get("/?state=bogus")
    assert bad_state.status_code == 400 and "state must be one of" in bad_state.text
    missing = stack.http.get("/relays/no-such-relay")
    assert missing.status_code == 404 and "no relay" in missing.text
    detail = stack.http.get(f"/relays/{relay_id}/history")
    assert detail.status_code == 200 and "No callback has arrived" in detail.text

    # Routes the pages do not own keep their JSON answers.
    unknown = stack.http.get("/no/such/route")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "not_found"
    assert stack.http.put("/api/relays").status_code == 405
    assert stack.http.post("/").json()["error"]["code"] == "method_not_allowed"
    assert stack.http.delete(f"/relays/{relay_id}").status_code == 405
    huge = stack.http.post("/login", content=b"token=" + b"x" * 20_000)
    assert huge.status_code == 400
