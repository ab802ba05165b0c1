"""Numbers that overflow a database integer, or are digits only to ``str.isdigit``: every
numeric query and path parameter answers a clear 400/404 on both backends, never a 500."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from receiver.domain.numbers import MAX_ROW_INT, row_int
from tests.receiver.helpers import (
    TRTC_KEY,
    TRTC_PATH,
    Server,
    assert_error_shape,
    running_server,
    sign,
    trtc_ingest,
)

HUGE = "99999999999999999999"
#: Digits to ``str.isdigit`` that ``int`` refuses (superscript two), or takes (Arabic-Indic).
NOT_ASCII = ("²", "٣", "1_0", " 5", "-1", "+1", str(MAX_ROW_INT + 1), HUGE)

#: Query parameters of /api that carry numbers, with the route that reads them.
NUMERIC_QUERIES = (
    ("/api/relays", "cursor", "{}:relay"),
    ("/api/relays", "limit", "{}"),
    ("/api/tasks", "cursor", "{}"),
    ("/api/tasks", "limit", "{}"),
    ("/api/unrecognized", "cursor", "{}"),
    ("/api/jobs", "cursor", "{}"),
    ("/api/jobs", "limit", "{}"),
    ("/api/events", "cursor", "{}"),
    ("/api/events", "since", "{}"),
    ("/api/events", "until", "{}"),
    ("/api/tasks/aliyun/some-task", "cursor", "{}:1"),
    ("/api/tasks/aliyun/some-task", "cursor", "1:{}"),
    ("/api/tasks/aliyun/some-task", "limit", "{}"),
)
#: Path parameters that name rows by number.
NUMERIC_PATHS = (
    ("POST", "/api/jobs/{}/retry"),
    ("POST", "/api/unrecognized/{}/replay"),
    ("POST", "/api/events/{}/replay"),
)


def test_row_int_takes_only_ascii_digits_within_bigint() -> None:
    assert row_int("0") == 0
    assert row_int(str(MAX_ROW_INT)) == MAX_ROW_INT
    assert row_int("7", minimum=1) == 7
    assert row_int("0", minimum=1) is None
    for text in (*NOT_ASCII, "", None, "1e3", "0x10"):
        assert row_int(text) is None, text


@pytest.fixture
def server(tmp_path: Path, database_url: str) -> Iterator[Server]:
    with running_server(tmp_path, database_url=database_url) as server:
        yield server


def _refused(response_status: int, body: bytes) -> None:
    assert response_status in (400, 404), body
    payload = json.loads(body)
    assert payload["error"]["code"] in ("bad_request", "not_found", "bad_query"), payload


def test_overflowing_query_and_path_numbers_are_refused(server: Server) -> None:
    for path, name, shape in NUMERIC_QUERIES:
        for text in ("²", HUGE, str(MAX_ROW_INT + 1)):
            response = server.api("GET", path, params={name: shape.format(text)})
            _refused(response.status_code, response.content)
    for method, shape in NUMERIC_PATHS:
        for text in ("²", HUGE, str(MAX_ROW_INT + 1), "0"):
            response = server.api(method, shape.format(text))
            assert_error_shape(response, 404, "not_found")
    # The largest valid number is a valid query: nothing is found, nothing fails.
    response = server.api("GET", "/api/relays", params={"cursor": f"{MAX_ROW_INT}:x"})
    assert response.status_code == 200, response.text
    response = server.api("POST", f"/api/jobs/{MAX_ROW_INT}/retry")
    assert_error_shape(response, 404, "not_found")


def test_status_page_refresh_of_superscript_digits_is_ignored(server: Server) -> None:
    for text in ("²", HUGE):
        response = server.client.get("/relays/table", params={"refresh": text})
        assert response.status_code in (200, 303, 401), response.text


def test_trtc_sdk_app_id_that_is_no_number_is_stored_not_a_500(server: Server) -> None:
    # Headers travel as latin-1: b"\xb2" is the superscript two.
    for index, sdk_app_id in enumerate(("²".encode("latin-1"), HUGE.encode())):
        body = trtc_ingest(f"ingest-odd-{index}", 701, 0, 1701937900013 + index)
        headers = {b"SdkAppId": sdk_app_id, b"Sign": sign(TRTC_KEY, body).encode()}
        response = server.client.post(TRTC_PATH, content=body, headers=headers)
        assert response.status_code == 200, response.text


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    query=st.sampled_from(NUMERIC_QUERIES),
    text=st.one_of(
        st.integers(min_value=-(2**80), max_value=2**80).map(str),
        st.text(alphabet=st.characters(categories=["Nd", "No"]), min_size=1, max_size=25),
        st.sampled_from(NOT_ASCII),
    ),
)
def test_any_number_in_an_api_query_is_answered_without_a_500(
    sqlite_server: Server, query: tuple[str, str, str], text: str
) -> None:
    path, name, shape = query
    response = sqlite_server.api("GET", path, params={name: shape.format(text)})
    # 404: a valid number, and no such task.
    assert response.status_code in (200, 400, 404), (path, name, text, response.text)
    if response.status_code != 200:
        assert response.json()["error"]["code"], response.text


@pytest.fixture(scope="module")
def sqlite_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    with running_server(tmp_path_factory.mktemp("numbers")) as server:
        yield server
