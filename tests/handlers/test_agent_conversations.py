"""Agents' conversations: a message may name its agent; each agent's messages are numbered from 0 in the order
stored, read from any position page by page, read and changed by position; they are the session's messages too
(counters, listing, export) and an agent's turn stores its message and its state change in one request."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

USER = "agents_user"
Q = {"user_id": USER}


@pytest.fixture
def sid(new_session: Callable[..., dict[str, Any]]) -> str:
    return str(new_session(USER)["session_id"])


def _append(api: Any, sid: str, **body: Any) -> tuple[int, Any]:
    status, message, _ = api("POST", f"/api/v1/sessions/{sid}/messages", query=Q, json_body=body)
    return status, message


def _agent_messages(sid: str, agent: str, suffix: str = "") -> str:
    return f"/api/v1/sessions/{sid}/agents/{agent}/messages{suffix}"


def test_each_agent_numbers_its_messages_from_zero(api: Any, sid: str) -> None:
    order = ["a", "b", "a", None, "b", "a"]
    stored = [_append(api, sid, role="user", content=f"m{i}", agent_id=agent)[1] for i, agent in enumerate(order)]
    assert [(m["agent_id"], m["position"]) for m in stored] == [
        ("a", 0),
        ("b", 0),
        ("a", 1),
        (None, None),
        ("b", 1),
        ("a", 2),
    ]
    _, page, _ = api("GET", _agent_messages(sid, "a"), query=Q)
    assert [m["content"] for m in page["messages"]] == ["m0", "m2", "m5"] and page["next_offset"] is None
    _, agent, _ = api("GET", f"/api/v1/sessions/{sid}/agents/a", query=Q)
    assert agent["message_count"] == 3 and agent["version"] == 0 and agent["state"] == {}
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    assert session["message_count"] == 6  # every agent's messages are the session's
    _, listed, _ = api("GET", f"/api/v1/sessions/{sid}/messages", query=Q)
    assert [m["content"] for m in listed["messages"]] == [f"m{i}" for i in range(6)]


def test_an_agent_is_read_from_any_offset_page_by_page(api: Any, sid: str) -> None:
    body = {"messages": [{"role": "user", "content": f"m{i}", "agent_id": "a"} for i in range(25)]}
    assert api("POST", f"/api/v1/sessions/{sid}/messages:batch", query=Q, json_body=body)[0] == 201
    seen, offset = [], 7
    while offset is not None:
        _, page, _ = api("GET", _agent_messages(sid, "a"), query={**Q, "offset": offset, "limit": 5})
        seen += [m["position"] for m in page["messages"]]
        offset = page["next_offset"]
    assert seen == list(range(7, 25))
    _, page, _ = api("GET", _agent_messages(sid, "a"), query={**Q, "offset": 30})
    assert page == {"messages": [], "next_offset": None}
    _, page, _ = api("GET", _agent_messages(sid, "nobody"), query=Q)
    assert page["messages"] == []


def test_a_batch_numbers_several_agents_in_order(api: Any, sid: str) -> None:
    _append(api, sid, role="user", content="first", agent_id="b")
    messages = [{"role": "user", "content": f"m{i}", "agent_id": "ab"[i % 2]} for i in range(6)]
    _, result, _ = api("POST", f"/api/v1/sessions/{sid}/messages:batch", query=Q, json_body={"messages": messages})
    assert [(m["agent_id"], m["position"]) for m in result["messages"]] == [
        ("a", 0),
        ("b", 1),
        ("a", 1),
        ("b", 2),
        ("a", 2),
        ("b", 3),
    ]


def test_a_message_is_read_and_changed_by_position(api: Any, sid: str) -> None:
    for i in range(3):
        _append(api, sid, role="assistant", content=f"m{i}", agent_id="a")
    status, message, _ = api("GET", _agent_messages(sid, "a", "/1"), query=Q)
    assert status == 200 and message["content"] == "m1" and message["position"] == 1
    status, changed, _ = api("PATCH", _agent_messages(sid, "a", "/2"), query=Q, json_body={"content": "[redacted]"})
    assert status == 200 and changed["content"] == "[redacted]" and changed["position"] == 2
    assert api("GET", _agent_messages(sid, "a", "/2"), query=Q)[1]["content"] == "[redacted]"
    assert api("GET", _agent_messages(sid, "a", "/3"), query=Q)[0] == 404
    assert api("PATCH", _agent_messages(sid, "a", "/3"), query=Q, json_body={"content": "x"})[0] == 404
    assert api("GET", _agent_messages(sid, "b", "/0"), query=Q)[0] == 404
    assert api("GET", _agent_messages(sid, "a", "/-1"), query=Q)[0] == 422


def test_a_deleted_message_leaves_its_position_empty(api: Any, sid: str) -> None:
    ids = [_append(api, sid, role="user", content=f"m{i}", agent_id="a")[1]["message_id"] for i in range(3)]
    assert api("DELETE", f"/api/v1/sessions/{sid}/messages/{ids[1]}", query=Q)[0] == 200
    _, page, _ = api("GET", _agent_messages(sid, "a"), query=Q)
    assert [m["position"] for m in page["messages"]] == [0, 2]
    assert _append(api, sid, role="user", content="m3", agent_id="a")[1]["position"] == 3


def test_an_agents_turn_stores_its_message_and_its_state_in_one_request(api: Any, sid: str) -> None:
    api("PUT", f"/api/v1/sessions/{sid}/agents/a", query=Q, json_body={"state": {"step": 0}})
    turn = {"role": "assistant", "content": "done", "agent_id": "a", "state": {"set": {"step": 1}, "if_version": 1}}
    status, message = _append(api, sid, **turn)
    assert status == 201 and message["position"] == 0
    _, agent, _ = api("GET", f"/api/v1/sessions/{sid}/agents/a", query=Q)
    assert agent["state"] == {"step": 1} and agent["version"] == 2 and agent["message_count"] == 1
    assert _append(api, sid, **turn)[0] == 412  # version 1 is gone: nothing stored
    _, agent_after, _ = api("GET", f"/api/v1/sessions/{sid}/agents/a", query=Q)
    assert agent_after == agent
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}/state", query=Q)
    assert session["version"] == 0  # the agent's change is the agent's


def test_an_agents_messages_count_with_the_sessions_and_are_exported(api: Any, sid: str) -> None:
    _append(api, sid, role="user", content="hi", agent_id="a", tokens_used=7)
    _append(api, sid, role="user", content="yo", agent_id="b", tokens_used=5)
    _, session, _ = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    assert session["message_count"] == 2 and session["total_tokens"] == 12
    status, text, _ = api("GET", f"/api/v1/users/{USER}/export", query=Q)
    assert status == 200 and '"agent_id":"a"' in text and '"agent_id":"b"' in text


def test_a_repeated_agent_append_is_stored_once(api: Any, sid: str) -> None:
    body = {"message_id": "0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10", "role": "user", "content": "x", "agent_id": "a"}
    assert _append(api, sid, **body)[0] == 201
    status, again = _append(api, sid, **body)
    assert status == 200 and again["position"] == 0
    assert _append(api, sid, role="user", content="y", agent_id="a")[1]["position"] == 1


@pytest.mark.parametrize("agent", ["", "has#hash", "has space", "x" * 129])
def test_an_agent_id_outside_the_pattern_is_422(api: Any, sid: str, agent: str) -> None:
    assert _append(api, sid, role="user", content="x", agent_id=agent)[0] == 422


def test_a_batch_names_at_most_ten_agents(api: Any, sid: str) -> None:
    messages = [{"role": "user", "content": "x", "agent_id": f"agent{i}"} for i in range(11)]
    assert api("POST", f"/api/v1/sessions/{sid}/messages:batch", query=Q, json_body={"messages": messages})[0] == 422
