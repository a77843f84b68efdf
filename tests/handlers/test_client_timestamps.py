"""Client timestamps: a message may carry ``timestamp`` (the client's time, epoch seconds, microseconds kept), returned
on every read of it; the session and its listing rows show ``last_message_timestamp`` (the latest appended message's
timestamp, else its creation time); ``GET .../messages?from_timestamp=`` lists the messages at or after a time, by
timestamp, both ways, by page and by ``next_token``. An agent's message keeps being read by position."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest

from session_service import wiring
from session_service.data import dynamo, keys
from tests.handlers.conftest import LoseOnce

USER = "timestamps_user"
Q = {"user_id": USER}
T0 = 1_733_360_000.123456


@pytest.fixture
def sid(new_session: Callable[..., dict[str, Any]]) -> str:
    return str(new_session(USER)["session_id"])


def _messages(sid: str, suffix: str = "") -> str:
    return f"/api/v1/sessions/{sid}/messages{suffix}"


def _append(api: Any, sid: str, **body: Any) -> dict[str, Any]:
    status, message, _ = api("POST", _messages(sid), query=Q, json_body={"role": "user", "content": "hi", **body})
    assert status == 201, message
    return dict(message)


def _list(api: Any, sid: str, **query: Any) -> dict[str, Any]:
    status, page, _ = api("GET", _messages(sid), query={**Q, **query})
    assert status == 200, page
    return dict(page)


def test_a_timestamp_is_stored_and_returned_on_every_read(api: Any, sid: str) -> None:
    appended = _append(api, sid, content="one", timestamp=T0)
    assert appended["timestamp"] == T0
    _, batch, _ = api(
        "POST",
        _messages(sid, ":batch"),
        query=Q,
        json_body={"messages": [{"role": "assistant", "content": "two", "timestamp": T0 + 1}]},
    )
    assert batch["messages"][0]["timestamp"] == T0 + 1
    got = api("GET", _messages(sid, f"/{appended['message_id']}"), query=Q)[1]
    assert got["timestamp"] == T0
    assert [m["timestamp"] for m in _list(api, sid)["messages"]] == [T0, T0 + 1]
    assert [m["timestamp"] for m in _list(api, sid, order="desc")["messages"]] == [T0 + 1, T0]
    status, text, _ = api("GET", f"/api/v1/users/{USER}/export")
    assert status == 200
    lines = [json.loads(line) for line in text.splitlines()]
    assert [line["timestamp"] for line in lines if line["type"] == "message"] == [T0, T0 + 1]


def test_a_message_without_one_answers_null(api: Any, sid: str) -> None:
    assert _append(api, sid)["timestamp"] is None
    assert _list(api, sid)["messages"][0]["timestamp"] is None


def test_microseconds_are_kept_and_a_bad_timestamp_is_refused(
    api: Any, sid: str, assert_all_rejected: Callable[..., None]
) -> None:
    assert _append(api, sid, timestamp=1.000001)["timestamp"] == 1.000001
    assert _append(api, sid, timestamp=0)["timestamp"] == 0
    cases = [("negative", -1), ("text", "yesterday"), ("too far", 1e12), ("boolean", True)]

    def send(value: Any) -> tuple[int, Any]:
        status, body, _ = api(
            "POST", _messages(sid), query=Q, json_body={"role": "user", "content": "x", "timestamp": value}
        )
        return status, body

    assert_all_rejected(cases, send)
    status, body, _ = api("GET", _messages(sid), query={**Q, "from_timestamp": -1})
    assert status == 422 and body["detail"]


def test_the_session_shows_its_latest_messages_timestamp(
    api: Any, sid: str, new_session: Callable[..., dict[str, Any]]
) -> None:
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] is None
    _append(api, sid, timestamp=T0)
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] == T0
    _append(api, sid, timestamp=T0 - 5)  # the latest appended, not the highest
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] == T0 - 5
    _, page, _ = api("GET", f"/api/v1/users/{USER}/sessions")
    assert [row["last_message_timestamp"] for row in page["sessions"] if row["session_id"] == sid] == [T0 - 5]
    # Without a timestamp: the message's server creation time, in epoch seconds.
    plain = _append(api, sid)
    created = datetime.fromisoformat(plain["created_at"].replace("Z", "+00:00")).timestamp()
    shown = api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"]
    assert shown == pytest.approx(created, abs=1e-6)
    # A batch: its last message's.
    batch = [
        {"role": "user", "content": "a", "timestamp": T0 + 10},
        {"role": "user", "content": "b", "timestamp": T0 + 9},
    ]
    assert api("POST", _messages(sid, ":batch"), query=Q, json_body={"messages": batch})[0] == 201
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] == T0 + 9
    other = new_session(USER)
    _, page, _ = api("GET", f"/api/v1/users/{USER}/sessions")
    assert [row["last_message_timestamp"] for row in page["sessions"] if row["session_id"] == other["session_id"]] == [
        None
    ]


def _fill(api: Any, sid: str, count: int, first: float = T0) -> None:
    batch = [{"role": "user", "content": f"m{i}", "timestamp": first + i} for i in range(count)]
    assert api("POST", _messages(sid, ":batch"), query=Q, json_body={"messages": batch})[0] == 201


def test_from_timestamp_lists_by_timestamp_both_ways_by_page_and_by_token(api: Any, sid: str) -> None:
    _fill(api, sid, 10)
    _append(api, sid, content="no time")  # not in a listing from a timestamp
    _append(api, sid, content="late but early", timestamp=T0 + 2.5)  # appended last, listed by its time
    page = _list(api, sid, from_timestamp=T0 + 2)
    assert [m["content"] for m in page["messages"]] == ["m2", "late but early", *(f"m{i}" for i in range(3, 10))]
    assert page["total"] == 12  # the session's messages, as every page says
    newest = _list(api, sid, from_timestamp=T0 + 2, order="desc", page_size=3)
    assert [m["content"] for m in newest["messages"]] == ["m9", "m8", "m7"]
    seen, token = [m["content"] for m in newest["messages"]], newest["next_token"]
    while token:
        more = _list(api, sid, from_timestamp=T0 + 2, order="desc", page_size=3, next_token=token)
        seen += [m["content"] for m in more["messages"]]
        token = more["next_token"]
    assert seen == [*(f"m{i}" for i in range(9, 2, -1)), "late but early", "m2"]
    ascending, token = [], None
    while True:
        more = _list(api, sid, from_timestamp=T0 + 7, page_size=2, next_token=token)
        ascending += [m["content"] for m in more["messages"]]
        token = more["next_token"]
        if not token:
            break
    assert ascending == ["m7", "m8", "m9"]
    assert [m["content"] for m in _list(api, sid, from_timestamp=T0 + 7, page_size=2, page=2)["messages"]] == ["m9"]
    assert _list(api, sid, from_timestamp=T0 + 100)["messages"] == []
    # The exact time is included (microseconds compared).
    assert [m["content"] for m in _list(api, sid, from_timestamp=T0 + 9)["messages"]] == ["m9"]


def test_a_token_of_another_listing_is_refused(api: Any, sid: str) -> None:
    _fill(api, sid, 4)
    token = _list(api, sid, from_timestamp=T0, page_size=2)["next_token"]
    assert token
    other = {**Q, "from_timestamp": T0 + 1, "page_size": 2, "next_token": token}
    status, body, _ = api("GET", _messages(sid), query=other)
    assert status == 400 and body["detail"]
    status, _, _ = api("GET", _messages(sid), query={**Q, "page_size": 2, "next_token": token})
    assert status == 400


def test_deleted_and_truncated_messages_leave_the_listing(api: Any, sid: str) -> None:
    _fill(api, sid, 5)
    ids = [m["message_id"] for m in _list(api, sid)["messages"]]
    assert api("DELETE", _messages(sid, f"/{ids[1]}"), query=Q)[0] == 200
    assert api("DELETE", _messages(sid), query={**Q, "after": ids[2]})[0] == 200
    assert [m["content"] for m in _list(api, sid, from_timestamp=0)["messages"]] == ["m0", "m2"]


def test_an_agents_message_with_a_timestamp_is_read_by_position(api: Any, sid: str) -> None:
    stored = _append(api, sid, content="by agent", agent_id="a", timestamp=T0)
    assert (stored["position"], stored["timestamp"]) == (0, T0)
    got = api("GET", f"/api/v1/sessions/{sid}/agents/a/messages/0", query=Q)[1]
    assert got["content"] == "by agent" and got["timestamp"] == T0
    assert _list(api, sid)["messages"][0]["timestamp"] == T0
    assert _list(api, sid, from_timestamp=0)["messages"] == []  # read by position, not by time (documented)
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] == T0


def test_old_messages_without_a_timestamp_read_fine(api: Any, sid: str, ddb: Any) -> None:
    """A message item as stored before timestamps (no ``timestamp``, no ``TS#`` key) and a hot item without
    ``last_message_timestamp`` read as before, with nulls."""
    _append(api, sid, content="before")
    hot = keys.session_key(sid)
    ddb.update_item(TableName=wiring.settings().table_name, Key=hot, UpdateExpression="REMOVE last_message_timestamp")
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] is None
    item = dynamo.deserialize(
        ddb.query(
            TableName=wiring.settings().table_name,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :msg)",
            ExpressionAttributeValues={":pk": {"S": keys.session_pk(sid)}, ":msg": {"S": "MSG#"}},
        )["Items"][0]
    )
    assert "LSI1SK" not in item and "timestamp" not in item
    assert _list(api, sid)["messages"][0]["timestamp"] is None


@pytest.mark.parametrize("route", ["messages", "messages:batch"])
@pytest.mark.parametrize("agent", [None, "a1"])
@pytest.mark.parametrize("chosen_id", [False, True])
def test_a_retried_append_answers_the_same_timestamp(
    api: Any, sid: str, lose: LoseOnce, route: str, agent: str | None, chosen_id: bool
) -> None:
    turn: dict[str, Any] = {"role": "assistant", "content": "second", "timestamp": T0 + 0.5}
    if agent:
        turn["agent_id"] = agent
    if chosen_id:
        turn["message_id"] = "0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10"
    body = {"messages": [turn]} if route.endswith("batch") else turn
    headers = {} if chosen_id else {"Idempotency-Key": f"lost-ts-{route}-{agent}"}
    lose.armed = True
    assert api("POST", f"/api/v1/sessions/{sid}/{route}", query=Q, json_body=body, headers=headers)[0] == 503
    status, answer, _ = api("POST", f"/api/v1/sessions/{sid}/{route}", query=Q, json_body=body, headers=headers)
    assert status in (200, 201), answer
    retried = answer["messages"][0] if route.endswith("batch") else answer
    assert retried["timestamp"] == T0 + 0.5
    stored = api("GET", _messages(sid, f"/{retried['message_id']}"), query=Q)[1]
    assert retried == stored
    listed = _list(api, sid, from_timestamp=T0)["messages"]
    assert [m["message_id"] for m in listed] == ([] if agent else [retried["message_id"]])
    assert api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["last_message_timestamp"] == T0 + 0.5
