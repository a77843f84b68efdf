"""Conditional appends: an append, one message or a batch, may carry ``If-Match`` (the session's ETag the
caller read): stale, it is 412 and writes nothing (no message, no count, no state change); current, the answer
carries the session's new ETag. A batch may carry a change of the session's state document in its transaction."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest

USER = "conditional_user"
Q = {"user_id": USER}


@pytest.fixture
def sid(new_session: Callable[..., dict[str, Any]]) -> str:
    return str(new_session(USER)["session_id"])


def _messages(sid: str, suffix: str = "") -> str:
    return f"/api/v1/sessions/{sid}/messages{suffix}"


def _etag(api: Any, sid: str) -> str:
    status, _, headers = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    assert status == 200
    return str(headers["ETag"])


def _count(api: Any, sid: str) -> int:
    return int(api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]["message_count"])


def test_an_append_on_the_version_read_answers_the_new_etag(api: Any, sid: str) -> None:
    read = _etag(api, sid)
    status, _, headers = api(
        "POST", _messages(sid), query=Q, json_body={"role": "user", "content": "hi"}, headers={"If-Match": read}
    )
    assert status == 201
    assert headers["ETag"] == _etag(api, sid) != read


def test_a_stale_append_is_412_and_writes_nothing(api: Any, sid: str) -> None:
    read = _etag(api, sid)
    assert api("POST", _messages(sid), query=Q, json_body={"role": "user", "content": "first"})[0] == 201
    moved = _etag(api, sid)
    body = {"role": "user", "content": "late", "state": {"set": {"a": 1}}}
    status, answer, _ = api("POST", _messages(sid), query=Q, json_body=body, headers={"If-Match": read})
    assert status == 412 and answer["detail"]
    assert _count(api, sid) == 1 and _etag(api, sid) == moved
    assert api("GET", f"/api/v1/sessions/{sid}/state", query=Q)[1]["version"] == 0


def test_two_appends_on_the_same_version_store_one(api: Any, sid: str) -> None:
    read = _etag(api, sid)
    first = api("POST", _messages(sid), query=Q, json_body={"role": "user", "content": "a"}, headers={"If-Match": read})
    second = api(
        "POST", _messages(sid), query=Q, json_body={"role": "user", "content": "b"}, headers={"If-Match": read}
    )
    assert (first[0], second[0]) == (201, 412)
    assert _count(api, sid) == 1


def test_an_append_without_if_match_is_unconditional_and_has_no_etag(api: Any, sid: str) -> None:
    status, _, headers = api("POST", _messages(sid), query=Q, json_body={"role": "user", "content": "hi"})
    assert status == 201 and "ETag" not in headers


def test_a_malformed_if_match_never_matches(api: Any, sid: str) -> None:
    for tag in ("W/" + _etag(api, sid), "1", '"x"'):
        body = {"role": "user", "content": "hi"}
        assert api("POST", _messages(sid), query=Q, json_body=body, headers={"If-Match": tag})[0] == 412, tag
    assert _count(api, sid) == 0


def test_a_conditional_batch_is_all_or_nothing(api: Any, sid: str) -> None:
    read = _etag(api, sid)
    batch = {"messages": [{"role": "user", "content": f"m{i}"} for i in range(3)]}
    status, body, headers = api("POST", _messages(sid, ":batch"), query=Q, json_body=batch, headers={"If-Match": read})
    assert status == 201 and body["total"] == 3 and headers["ETag"] == _etag(api, sid)
    stale = api("POST", _messages(sid, ":batch"), query=Q, json_body=batch, headers={"If-Match": read})
    assert stale[0] == 412 and _count(api, sid) == 3


def test_a_batch_changes_the_session_state_in_its_transaction(api: Any, sid: str) -> None:
    batch = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "state": {"set": {"step": 2, "plan": None}, "remove": ["gone"]},
    }
    read = {"If-Match": _etag(api, sid)}
    status, body, _ = api("POST", _messages(sid, ":batch"), query=Q, json_body=batch, headers=read)
    assert status == 201 and body["total"] == 2
    document = api("GET", f"/api/v1/sessions/{sid}/state", query=Q)[1]
    assert document["state"] == {"step": 2, "plan": None} and document["version"] == 1
    stale_state = {"messages": [{"role": "user", "content": "x"}], "state": {"set": {"step": 3}, "if_version": 0}}
    assert api("POST", _messages(sid, ":batch"), query=Q, json_body=stale_state)[0] == 412
    assert _count(api, sid) == 2
    assert api("GET", f"/api/v1/sessions/{sid}/state", query=Q)[1]["state"] == {"step": 2, "plan": None}


def test_a_message_of_a_batch_carries_no_state_of_its_own(api: Any, sid: str) -> None:
    batch = {"messages": [{"role": "user", "content": "q", "state": {"set": {"a": 1}}}]}
    assert api("POST", _messages(sid, ":batch"), query=Q, json_body=batch)[0] == 422


def test_a_conditional_batch_must_fit_one_transaction(api: Any, sid: str) -> None:
    batch = {"messages": [{"role": "user", "content": f"m{i}", "message_id": str(uuid.uuid4())} for i in range(60)]}
    read = {"If-Match": _etag(api, sid)}
    status, _, _ = api("POST", _messages(sid, ":batch"), query=Q, json_body=batch, headers=read)
    assert status == 413 and _count(api, sid) == 0
    with_state = {**batch, "state": {"set": {"a": 1}}}
    assert api("POST", _messages(sid, ":batch"), query=Q, json_body=with_state)[0] == 413
    assert _count(api, sid) == 0


def test_a_retried_conditional_append_finds_its_message(api: Any, sid: str) -> None:
    read = _etag(api, sid)
    mid = str(uuid.uuid4())
    body = {"role": "user", "content": "once", "message_id": mid}
    first = api("POST", _messages(sid), query=Q, json_body=body, headers={"If-Match": read})
    again = api("POST", _messages(sid), query=Q, json_body=body, headers={"If-Match": read})
    assert (first[0], again[0]) == (201, 200) and again[1]["message_id"] == mid
    assert again[2]["ETag"] == first[2]["ETag"] == _etag(api, sid) and _count(api, sid) == 1
