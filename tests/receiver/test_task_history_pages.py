"""``GET /api/tasks/{provider}/{id}`` pages a task's event history (provider-time order)
over a real server, on both backends; the rest of the answer keeps its shape."""

from __future__ import annotations

from pathlib import Path

from tests.receiver.helpers import aliyun_status, assert_error_shape, running_server

TASK = "paged-task"


def test_a_long_history_comes_in_pages_in_provider_time_order(
    tmp_path: Path, database_url: str
) -> None:
    with running_server(tmp_path, database_url=database_url) as server:
        # 230 events whose provider times arrive out of order (odd ones first).
        times = [1725500000 + i for i in range(230)]
        for event_time in times[1::2] + times[0::2]:
            status = 1 if event_time % 3 else 3
            response = server.aliyun(aliyun_status(TASK, status, event_time))
            assert response.status_code == 200, response.text

        first = server.task("aliyun", TASK)
        assert len(first["events"]) == 100 and first["next_cursor"]
        assert {"status", "relay_id", "jobs", "arrival_order"} <= first.keys()
        seen = list(first["events"])
        cursor = first["next_cursor"]
        pages = 1
        while cursor:
            response = server.api("GET", f"/api/tasks/aliyun/{TASK}", params={"cursor": cursor})
            assert response.status_code == 200, response.text
            page = response.json()
            seen.extend(page["events"])
            cursor = page["next_cursor"]
            pages += 1
        assert pages == 3
        assert len(seen) == 230 and len({e["id"] for e in seen}) == 230
        order = [e["event_time"] for e in seen]
        assert order == sorted(order)

        small = server.api("GET", f"/api/tasks/aliyun/{TASK}", params={"limit": "7"}).json()
        assert [e["id"] for e in small["events"]] == [e["id"] for e in seen[:7]]
        whole = server.api("GET", f"/api/tasks/aliyun/{TASK}", params={"limit": "500"}).json()
        assert len(whole["events"]) == 230 and whole["next_cursor"] is None

        for bad in ("x", "1", "1:²", "99999999999999999999:1"):
            response = server.api("GET", f"/api/tasks/aliyun/{TASK}", params={"cursor": bad})
            assert_error_shape(response, 400, "bad_query")
