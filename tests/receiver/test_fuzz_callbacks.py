"""Random bodies, query strings and headers over a real socket: never a 500, never a lost body.

One server (real uvicorn, real SQLite file) takes every example. Each response must have
the documented status and JSON shape, credentials must decide 401 exactly, and at the end
every authenticated body is in the store: as an event (accepted) or in quarantine
(unrecognized / not JSON).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.receiver.helpers import (
    ALIYUN_PATH,
    CALLBACK_TOKEN,
    TENCENT_PATH,
    TRTC_KEY,
    TRTC_PATH,
    Server,
    db_counts,
    running_server,
    sign,
)

# --- bodies ---------------------------------------------------------------------------------

number_literals = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70).map(str),
    st.from_regex(r"-?[1-9][0-9]{0,400}", fullmatch=True),
    st.from_regex(r"-?[0-9]{1,20}\.[0-9]{1,20}([eE][+-]?[0-9]{1,4})?", fullmatch=True),
    st.sampled_from(["1e999", "-1e999", "1E400", "0.0", "-0", "1725501246", "1701937900013"]),
).map(str.encode)

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**64),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=30),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)


def as_json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


@st.composite
def deep_nesting(draw: st.DrawFn) -> bytes:
    depth = draw(st.sampled_from([1, 50, 999, 1_000, 3_000, 20_000]))
    opener, closer = draw(st.sampled_from([(b"[", b"]"), (b'{"a":', b"}")]))
    return opener * depth + b"0" + closer * depth


fragments = st.one_of(
    json_values.map(as_json),
    number_literals,
    number_literals.map(lambda n: b'"' + n + b'"'),
    deep_nesting(),
    st.binary(max_size=12).map(
        lambda raw: b'"' + raw.replace(b'"', b"").replace(b"\\", b"") + b'"'
    ),
    st.sampled_from(
        [
            b'"LivePullToPushRuning"',
            b'"LivePullToPushRunning"',
            b'"LivePullToPushExit"',
            b'"1"',
            b'"2"',
            b'"3"',
            b'"-1"',
            b"1",
            b"2",
            b"3",
            b"-1",
            b"7",
            b"701",
            b"702",
            b'"PullStreamFailed"',
            b'"TriggerByUser"',
            b'"OverEndTime"',
            b'"a/b+c d"',
        ]
    ),
)

ALIYUN_KEYS = [
    "Event",
    "EventTime",
    "TaskId",
    "TaskInfo",
    "TaskStatus",
    "TaskInvalidReason",
    "TaskExitReason",
    "TaskExitTime",
]
TRTC_KEYS = ["EventGroupId", "EventType", "CallbackMsTs", "CallbackTs"]
INFO_KEYS = ["TaskId", "Status", "EventMsTs", "EventTs", "RoomId"]


@st.composite
def shaped_object(draw: st.DrawFn, keys: list[str], nested: dict[str, list[str]]) -> bytes:
    """A JSON-ish object with the provider's keys and random (often wrong) values."""
    chosen = draw(st.lists(st.sampled_from(keys + list(nested)), unique=True, max_size=9))
    parts = []
    for key in chosen:
        if key in nested and draw(st.booleans()):
            value = draw(shaped_object(nested[key], {}))
        else:
            value = draw(fragments)
        parts.append(json.dumps(key).encode() + b":" + value)
    return b"{" + b",".join(parts) + b"}"


@dataclass(frozen=True)
class Body:
    raw: bytes
    valid_json: bool  # produced by json.dumps: must never be answered 400


task_ids = st.text(min_size=1, max_size=30).filter(str.strip)
event_seconds = st.integers(min_value=0, max_value=4_102_444_800)


@st.composite
def plausible_aliyun(draw: st.DrawFn) -> bytes:
    """A real-looking status or exit callback, fields as strings or numbers, extras added."""
    status = draw(st.sampled_from([1, 2, 3, -1]))
    seconds = draw(event_seconds)
    as_text = draw(st.booleans())
    body: dict[str, Any] = {
        "Event": draw(
            st.sampled_from(
                [
                    "LivePullToPushRuning",
                    "LivePullToPushRunning",
                    "LivePullToPushExit",
                    "LivePullToPush",
                ]
            )
        ),
        "EventTime": str(seconds) if as_text else seconds,
        "TaskId": draw(task_ids),
        "TaskStatus": str(status) if as_text else status,
    }
    if status == 3 or draw(st.booleans()):
        body["TaskInvalidReason"] = draw(
            st.sampled_from(["PullStreamFailed", "TriggerByUser", "RetryTimesOffline"])
            | st.text(max_size=20)
        )
    if draw(st.booleans()):
        body["TaskInfo"] = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=3))
    body.update(draw(st.dictionaries(st.text(max_size=8), json_values, max_size=2)))
    return as_json(body)


@st.composite
def plausible_trtc(draw: st.DrawFn) -> bytes:
    event_type = draw(st.sampled_from([701, 702]))
    info = {
        "TaskId": draw(task_ids),
        "Status": draw(st.sampled_from([0, 1, 2])),
        "EventMsTs": draw(event_seconds) * 1000 + draw(st.integers(0, 999)),
    }
    return as_json({"EventGroupId": 7, "EventType": event_type, "EventInfo": info})


#: Valid JSON whose first field has the wrong type and whose nesting follows.
wrong_type_then_deep = st.sampled_from([10, 900, 1_000, 5_000, 20_000]).map(
    lambda depth: b'{"TaskStatus":true,"TaskInfo":' + b"[" * depth + b"]" * depth + b"}"
)


@st.composite
def plausible_css(draw: st.DrawFn) -> bytes:
    msg = draw(json_values.map(lambda v: json.dumps(v)) | st.text(max_size=30))
    return as_json(
        {
            "event_type": draw(st.sampled_from([314, "314", 315])),
            "callback_event": draw(
                st.sampled_from(["TaskStart", "TaskExit", "TaskAlarm", "ResetTaskConfig"])
            ),
            "task_id": draw(task_ids | st.integers(min_value=0).map(str)),
            "event_time": str(draw(event_seconds)),
            "source_urls": '["rtmp://src.example.com/live/s"]\n',
            "msg": msg,
        }
    )


bodies = st.one_of(
    plausible_css().map(lambda raw: Body(raw, True)),
    wrong_type_then_deep.map(lambda raw: Body(raw, True)),
    plausible_aliyun().map(lambda raw: Body(raw, True)),
    plausible_trtc().map(lambda raw: Body(raw, True)),
    shaped_object(ALIYUN_KEYS, {"TaskInfo": ["TaskId", "StartTime", "DstUrl"]}).map(
        lambda raw: Body(raw, False)
    ),
    shaped_object(TRTC_KEYS, {"EventInfo": INFO_KEYS}).map(lambda raw: Body(raw, False)),
    json_values.map(lambda v: Body(as_json(v), True)),
    st.binary(max_size=300).map(lambda raw: Body(raw, False)),
    st.text(max_size=100).map(lambda text: Body(text.encode("utf-8", "surrogatepass"), False)),
    deep_nesting().map(lambda raw: Body(raw, False)),
)

# --- requests -------------------------------------------------------------------------------

header_text = st.text(
    alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=40
).map(str.strip)
header_bytes = st.binary(max_size=40).map(
    lambda raw: bytes(b for b in raw if b >= 0x20 and b != 0x7F).strip()
)
content_types = st.one_of(
    st.sampled_from(
        [
            "application/json",
            "application/json; charset=utf-8",
            "text/plain",
            "application/x-www-form-urlencoded",
            "multipart/form-data; boundary=x",
            "application/octet-stream",
            "",
        ]
    ),
    header_text,
)
query_noise = st.lists(
    st.tuples(
        st.sampled_from(["region", "relay", "t", "sign", "Token", "x", "token[]", "%ZZ", "ü"]),
        st.text(max_size=20),
    ),
    max_size=3,
)


@dataclass(frozen=True)
class Call:
    route: str
    authentic: bool
    body: Body
    query: tuple[tuple[str, str], ...]
    headers: tuple[tuple[bytes, bytes], ...]


@st.composite
def calls(draw: st.DrawFn) -> Call:
    body = draw(bodies)
    route = draw(st.sampled_from(["aliyun", "trtc", "tencent"]))
    query = list(draw(query_noise))
    headers: list[tuple[bytes, bytes]] = []
    if draw(st.booleans()):
        headers.append((b"Content-Type", draw(content_types).encode("latin-1")))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        name = draw(st.sampled_from([b"X-Noise", b"SdkAppId", b"User-Agent", b"Accept"]))
        headers.append((name, draw(header_bytes)))
    if route in ("aliyun", "tencent"):
        token = draw(
            st.one_of(
                st.just(CALLBACK_TOKEN),
                st.none(),
                st.text(max_size=40),
                st.just(CALLBACK_TOKEN + "\x00"),
                st.just(" " + CALLBACK_TOKEN),
            )
        )
        if token is not None:
            query = [(k, v) for k, v in query if k != "token"] + [("token", token)]
        # Query t/sign are noise: CSS signs in the body, checked only with a CSS key set.
        authentic = token == CALLBACK_TOKEN
    else:
        choice = draw(st.sampled_from(["valid", "missing", "random", "other-key"]))
        valid = sign(TRTC_KEY, body.raw)
        value = {
            "valid": valid.encode(),
            "missing": None,
            "random": draw(header_bytes),
            "other-key": sign("other", body.raw).encode(),
        }[choice]
        if value is not None:
            headers.append((b"Sign", value))
        authentic = choice == "valid"
    return Call(route, authentic, body, tuple(query), tuple(headers))


# --- the test -------------------------------------------------------------------------------


@dataclass
class Tally:
    stored_events: int = 0
    quarantined: int = 0
    statuses: Counter[int] = field(default_factory=Counter)


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Server, Tally]]:
    tmp: Path = tmp_path_factory.mktemp("fuzz")
    with running_server(tmp) as server:
        tally = Tally()
        yield server, tally
        # After every example: the server is up and every authenticated body was kept.
        assert server.client.get("/healthz").status_code == 200
        assert server.client.get("/readyz").status_code == 200
        counts = db_counts(server.db)
        assert counts["events"] == tally.stored_events
        assert counts["unrecognized"] == tally.quarantined
        if sum(tally.statuses.values()) >= 100:
            # The generator reaches every outcome (else the test would prove little).
            assert {200, 202, 400, 401} <= set(tally.statuses), tally.statuses


def check_shape(response: httpx.Response) -> dict[str, Any]:
    assert response.headers["content-type"].startswith("application/json"), response.text
    body: dict[str, Any] = response.json()
    if response.status_code == 200:
        assert body in ({"status": "accepted"}, {"status": "duplicate"})
    elif response.status_code == 202:
        assert body == {"status": "unrecognized"}
    else:
        assert set(body) == {"error"}
        assert set(body["error"]) == {"code", "message"}
        assert isinstance(body["error"]["code"], str)
        assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    return body


@settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(call=calls())
def test_random_callbacks_never_break_the_server(
    fuzz_server: tuple[Server, Tally], call: Call
) -> None:
    server, tally = fuzz_server
    path = {"aliyun": ALIYUN_PATH, "trtc": TRTC_PATH, "tencent": TENCENT_PATH}[call.route]
    response = server.client.post(
        path, params=list(call.query), headers=list(call.headers), content=call.body.raw
    )
    assert response.status_code != 500, response.text
    assert response.status_code in (200, 202, 400, 401), response.text
    body = check_shape(response)
    tally.statuses[response.status_code] += 1
    # Credentials alone decide 401; an authentic body is never refused for its content.
    assert (response.status_code == 401) is (not call.authentic), (call, body)
    if call.body.valid_json:
        assert response.status_code != 400
    if response.status_code == 200 and body["status"] == "accepted":
        tally.stored_events += 1
    elif response.status_code in (202, 400):
        tally.quarantined += 1
