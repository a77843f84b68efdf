"""Structured messages: ``data``, any JSON value beside or instead of ``content``, returned exactly as
stored by every answer that carries messages (append, batch, get, list, context, export), stored as its compact
JSON text; the roles ``developer`` and ``tool``."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from session_service import wiring
from session_service.data import keys
from session_service.models import MAX_MESSAGE_BYTES

ITEM = {
    "type": "function_call",
    "call_id": "call_1",
    "arguments": '{"city": "Paris"}',
    "nested": {"list": [1, 2.5, [True, False, None], {"deep": {"deeper": ["x"]}}], "empty": {}, "none": []},
    "floats": [0.1, 1e-7, -2.5e300, 0.30000000000000004],
    "big": 2**70,
    "negative": -(2**63),
    "unicode": 'héllo 世界 😀 \u0000 "quoted" \\ back',
    "flag": True,
    "text": "",
}
VALUES: list[Any] = [ITEM, [ITEM, "two", 3], "just a string", 42, 0.1, True, False, {}, []]


def _url(api: Any, sid: str, suffix: str = "") -> str:
    return str(api.session_url(sid, suffix))


def _append(api: Any, user: str, sid: str, **fields: Any) -> tuple[int, Any]:
    status, body, _ = api("POST", _url(api, sid, "/messages"), query={"user_id": user}, json_body=fields)
    return status, body


def _stored(ddb: Any, sid: str) -> list[dict[str, Any]]:
    table = wiring.settings().table_name
    rows = ddb.query(
        TableName=table,
        KeyConditionExpression="PK = :pk AND begins_with(SK, :msg)",
        ExpressionAttributeValues={":pk": {"S": keys.session_pk(sid)}, ":msg": {"S": keys.MESSAGE_PREFIX}},
        ConsistentRead=True,
    )["Items"]
    return list(rows)


@pytest.mark.parametrize("data", VALUES, ids=lambda value: type(value).__name__)
def test_data_round_trips_exactly_through_every_read(
    api: Any, ddb: Any, user: str, new_session: Any, data: Any
) -> None:
    sid = new_session()["session_id"]
    status, appended = _append(api, user, sid, role="assistant", content="", data=data)
    assert status == 201, appended
    assert appended["data"] == data and appended["content"] == ""
    mid = appended["message_id"]
    status, got, _ = api("GET", _url(api, sid, f"/messages/{mid}"), query={"user_id": user})
    assert (status, got["data"]) == (200, data)
    _, listing, _ = api("GET", _url(api, sid, "/messages"), query={"user_id": user})
    assert [m["data"] for m in listing["messages"]] == [data]
    _, context, _ = api("GET", _url(api, sid, "/context"), query={"user_id": user})
    assert [m["data"] for m in context["messages"]] == [data]
    # Stored as its compact JSON text in one string attribute
    (item,) = _stored(ddb, sid)
    assert json.loads(item["data"]["S"]) == data
    assert item["data"]["S"] == json.dumps(data, separators=(",", ":"), ensure_ascii=False)


def test_the_numbers_keep_their_type_and_value(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    _, appended = _append(api, user, sid, role="user", content="numbers", data=ITEM)
    assert appended["data"]["big"] == 2**70 and isinstance(appended["data"]["big"], int)
    assert appended["data"]["floats"] == [0.1, 1e-7, -2.5e300, 0.30000000000000004]
    assert appended["data"]["nested"]["empty"] == {} and appended["data"]["nested"]["none"] == []


def test_a_message_without_data_answers_null(api: Any, user: str, new_session: Any, ddb: Any) -> None:
    sid = new_session()["session_id"]
    status, appended = _append(api, user, sid, role="user", content="plain")
    assert (status, appended["data"]) == (201, None)
    status, explicit = _append(api, user, sid, role="user", content="plain", data=None)
    assert (status, explicit["data"]) == (201, None)
    assert all("data" not in item for item in _stored(ddb, sid))


def test_a_message_needs_content_or_data(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    for body in ({"role": "user"}, {"role": "user", "content": ""}, {"role": "user", "data": None}):
        status, answer = _append(api, user, sid, **body)
        assert status == 422, (body, answer)
    status, answer = _append(api, user, sid, role="tool", data={"output": "42"})
    assert (status, answer["content"], answer["data"]) == (201, "", {"output": "42"})
    # A streamed reply may start with neither
    status, answer = _append(api, user, sid, role="assistant", status="in_progress")
    assert status == 201, answer


def test_content_and_data_count_together_against_the_size_limit(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    half = MAX_MESSAGE_BYTES // 2
    fits = "a" * (MAX_MESSAGE_BYTES - half - 2)  # data "…" is its text plus two quotes
    status, answer = _append(api, user, sid, role="user", content="b" * half, data=fits)
    assert status == 201, answer
    status, answer = _append(api, user, sid, role="user", content="b" * half, data=fits + "a")
    assert status == 422, answer
    status, answer = _append(api, user, sid, role="user", data="a" * MAX_MESSAGE_BYTES)
    assert status == 422, answer


def test_data_deeper_than_the_json_limit_is_refused(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    deep: Any = "leaf"
    for _ in range(40):
        deep = [deep]
    status, answer = _append(api, user, sid, role="user", data=deep)
    assert status == 422, answer


@pytest.mark.parametrize("role", ["developer", "tool"])
def test_the_developer_and_tool_roles_are_accepted(api: Any, user: str, new_session: Any, role: str) -> None:
    sid = new_session()["session_id"]
    status, answer = _append(api, user, sid, role=role, content="from the " + role)
    assert (status, answer["role"]) == (201, role)


def test_an_idempotent_append_compares_data_too(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    mid = str(uuid.uuid4())
    status, first = _append(api, user, sid, role="assistant", data={"a": [1, 0.1]}, message_id=mid)
    assert status == 201, first
    status, again = _append(api, user, sid, role="assistant", data={"a": [1, 0.1]}, message_id=mid)
    assert (status, again) == (200, first)
    status, other = _append(api, user, sid, role="assistant", data={"a": [1, 0.2]}, message_id=mid)
    assert status == 409, other
    # The hash of a message without data is what it was before messages had data: a retry still matches
    plain = str(uuid.uuid4())
    assert _append(api, user, sid, role="user", content="hi", message_id=plain)[0] == 201
    assert _append(api, user, sid, role="user", content="hi", message_id=plain)[0] == 200
    assert _append(api, user, sid, role="user", content="hi", data="x", message_id=plain)[0] == 409


def test_a_batch_carries_data(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    batch = [{"role": "user", "content": "q"}, {"role": "assistant", "data": ITEM}, {"role": "tool", "data": [1]}]
    status, answer, _ = api(
        "POST", _url(api, sid, "/messages:batch"), query={"user_id": user}, json_body={"messages": batch}
    )
    assert status == 201, answer
    assert [m["data"] for m in answer["messages"]] == [None, ITEM, [1]]


def test_patch_changes_data(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    _, message = _append(api, user, sid, role="assistant", content="text", data={"v": 1})
    url = _url(api, sid, f"/messages/{message['message_id']}")
    status, patched, _ = api("PATCH", url, query={"user_id": user}, json_body={"data": {"v": [2, 0.1, "é"]}})
    assert (status, patched["data"], patched["content"]) == (200, {"v": [2, 0.1, "é"]}, "text")
    status, got, _ = api("GET", url, query={"user_id": user})
    assert got["data"] == {"v": [2, 0.1, "é"]}
    # The same data again changes nothing; null leaves it as it is
    status, same, _ = api("PATCH", url, query={"user_id": user}, json_body={"data": {"v": [2, 0.1, "é"]}})
    assert (status, same) == (200, got)
    status, kept, _ = api("PATCH", url, query={"user_id": user}, json_body={"data": None, "metadata": {"k": 1}})
    assert (status, kept["data"]) == (200, {"v": [2, 0.1, "é"]})
    # content and data together stay within the limit
    status, answer, _ = api("PATCH", url, query={"user_id": user}, json_body={"data": "a" * (MAX_MESSAGE_BYTES - 4)})
    assert status == 413, answer


def test_export_lines_carry_data(api: Any, user: str, new_session: Any) -> None:
    sid = new_session()["session_id"]
    _append(api, user, sid, role="assistant", data=ITEM)
    _append(api, user, sid, role="user", content="plain")
    status, text, _ = api("GET", f"/api/v1/users/{user}/export", query={"user_id": user})
    assert status == 200
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["data"] for line in lines if line["type"] == "message"] == [ITEM, None]
