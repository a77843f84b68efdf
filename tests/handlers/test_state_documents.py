"""State documents: a session's and each agent's JSON state, items of their own beside the hot item, changed by
top-level key (set: a value replaces, null is stored; remove), atomically, on the version read (If-Match: 412 and
nothing stored), an agent created once (409), and a change riding in an append's transaction."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from session_service.models.state import MAX_STATE_CHANGE_KEYS

USER = "state_user"
Q = {"user_id": USER}


@pytest.fixture
def sid(new_session: Callable[..., dict[str, Any]]) -> str:
    return str(new_session(USER)["session_id"])


def _state(sid: str) -> str:
    return f"/api/v1/sessions/{sid}/state"


def _agent(sid: str, agent: str) -> str:
    return f"/api/v1/sessions/{sid}/agents/{agent}"


@pytest.fixture
def tag(api: Any, sid: str, etag_of: Any) -> Callable[[int], str]:
    """``tag(version)``: the ETag of a state document of the session ``sid`` at ``version``."""
    session = api("GET", f"/api/v1/sessions/{sid}", query=Q)[1]
    return lambda version: str(etag_of(version, session))


def test_a_session_document_is_empty_until_its_first_change(api: Any, sid: str, tag: Any) -> None:
    status, body, headers = api("GET", _state(sid), query=Q)
    assert status == 200 and body["state"] == {} and body["version"] == 0 and headers["ETag"] == tag(0)
    assert body["agent_id"] is None and body["created_at"] is None


def test_a_change_sets_replaces_stores_null_and_removes_keys(api: Any, sid: str, tag: Any) -> None:
    first = {"set": {"step": 1, "plan": {"todo": ["search", "book"]}, "scratch": "x", "price": 12.5}}
    status, body, headers = api("PATCH", _state(sid), query=Q, json_body=first)
    assert status == 200 and body["version"] == 1 and headers["ETag"] == tag(1)
    assert body["state"] == {"step": 1, "plan": {"todo": ["search", "book"]}, "scratch": "x", "price": 12.5}
    status, body, _ = api(
        "PATCH", _state(sid), query=Q, json_body={"set": {"step": 2, "plan": None}, "remove": ["scratch", "absent"]}
    )
    assert status == 200 and body["version"] == 2
    assert body["state"] == {"step": 2, "plan": None, "price": 12.5}
    status, read, headers = api("GET", _state(sid), query=Q)
    assert read == body and headers["ETag"] == tag(2)


def test_any_key_is_a_key_of_its_own(api: Any, sid: str) -> None:
    odd = {"PK": 1, "version": "mine", "a.b": [1], "#x": True, ":y": {}, "ünï cødé": "ok", "k#z": 0}
    status, body, _ = api("PATCH", _state(sid), query=Q, json_body={"set": odd})
    assert status == 200 and body["state"] == odd and body["version"] == 1


def test_if_match_names_the_version_read(api: Any, sid: str, tag: Any) -> None:
    assert api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 1}}, headers={"If-Match": tag(1)})[0] == 412
    status, body, _ = api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 1}}, headers={"If-Match": tag(0)})
    assert status == 200 and body["version"] == 1
    stale = api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 2}}, headers={"If-Match": tag(0)})
    assert stale[0] == 412 and stale[1]["detail"]
    assert api("GET", _state(sid), query=Q)[1]["state"] == {"a": 1}
    ok = api("PATCH", _state(sid), query=Q, json_body={"remove": ["a"]}, headers={"If-Match": tag(1)})
    assert ok[0] == 200 and ok[1]["state"] == {} and ok[1]["version"] == 2


def test_the_hot_item_is_not_written(api: Any, sid: str) -> None:
    _, before, etag = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 1}})
    _, after, etag_after = api("GET", f"/api/v1/sessions/{sid}", query=Q)
    assert etag["ETag"] == etag_after["ETag"] and before["updated_at"] == after["updated_at"]


@pytest.mark.parametrize(
    ("body", "case"),
    [
        ({"set": {"a": 1}, "remove": ["a"]}, "a key set and removed"),
        ({"remove": ["a", "a"]}, "a key removed twice"),
        ({"set": {"": 1}}, "an empty key"),
        ({"set": {"k" * 257: 1}}, "a key too long"),
        ({"set": {f"k{i}": i for i in range(MAX_STATE_CHANGE_KEYS + 1)}}, "too many keys"),
        ({"set": {"a": "x" * (381 * 1024)}}, "a change larger than a document"),
        ({"put": {"a": 1}}, "an unknown field"),
    ],
)
def test_a_change_that_breaks_the_rules_is_422(api: Any, sid: str, body: Any, case: str) -> None:
    assert api("PATCH", _state(sid), query=Q, json_body=body)[0] == 422, case
    assert api("GET", _state(sid), query=Q)[1]["version"] == 0, case


def test_a_document_up_to_the_item_limit(api: Any, sid: str) -> None:
    big = {f"part{i}": "x" * (90 * 1024) for i in range(4)}  # 360 KiB: beyond conversation_data's 32 KiB
    status, body, _ = api("PATCH", _state(sid), query=Q, json_body={"set": big})
    assert status == 200 and body["state"] == big


def test_another_users_or_a_missing_session_is_404_and_an_ended_one_409(api: Any, sid: str, new_session: Any) -> None:
    assert api("GET", _state(sid), query={"user_id": "someone_else"})[0] == 404
    assert api("PATCH", _state(sid), query={"user_id": "someone_else"}, json_body={"set": {"a": 1}})[0] == 404
    missing = "0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10"
    assert api("PATCH", _state(missing), query=Q, json_body={"set": {"a": 1}})[0] == 404
    assert api("DELETE", f"/api/v1/sessions/{sid}", query=Q)[0] == 200  # ended
    assert api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 1}})[0] == 409
    assert api("GET", _state(sid), query=Q)[1]["version"] == 0


def test_an_agent_is_created_once_read_and_changed(api: Any, sid: str, tag: Any) -> None:
    assert api("GET", _agent(sid, "planner"), query=Q)[0] == 404
    assert api("PATCH", _agent(sid, "planner"), query=Q, json_body={"set": {"a": 1}})[0] == 404
    status, body, headers = api("PUT", _agent(sid, "planner"), query=Q, json_body={"state": {"goal": "fly"}})
    assert status == 201 and body["agent_id"] == "planner" and body["state"] == {"goal": "fly"}
    assert headers["ETag"] == tag(1)
    again = api("PUT", _agent(sid, "planner"), query=Q, json_body={"state": {"goal": "other"}})
    assert again[0] == 409
    status, body, _ = api("PATCH", _agent(sid, "planner"), query=Q, json_body={"set": {"step": 2}})
    assert status == 200 and body["state"] == {"goal": "fly", "step": 2} and body["version"] == 2
    assert api("GET", _agent(sid, "planner"), query=Q)[1] == body
    assert api("GET", _agent(sid, "writer"), query=Q)[0] == 404
    assert api("GET", _state(sid), query=Q)[1]["state"] == {}  # the session's document is another
    assert api("GET", _agent(sid, "not an id!"), query=Q)[0] == 404


def test_an_append_carries_a_state_change_in_its_transaction(api: Any, sid: str) -> None:
    url = f"/api/v1/sessions/{sid}/messages"
    body = {"role": "assistant", "content": "done", "state": {"set": {"step": 1}, "remove": ["x"]}}
    status, message, _ = api("POST", url, query=Q, json_body=body)
    assert status == 201 and "state" not in message
    assert api("GET", _state(sid), query=Q)[1]["state"] == {"step": 1}
    stale = {"role": "assistant", "content": "again", "state": {"set": {"step": 2}, "if_version": 0}}
    assert api("POST", url, query=Q, json_body=stale)[0] == 412
    _, listed, _ = api("GET", url, query=Q)
    assert [m["content"] for m in listed["messages"]] == ["done"]  # nothing of the refused append stored
    fresh = {"role": "assistant", "content": "again", "state": {"set": {"step": 2}, "if_version": 1}}
    assert api("POST", url, query=Q, json_body=fresh)[0] == 201
    assert api("GET", _state(sid), query=Q)[1] == {**api("GET", _state(sid), query=Q)[1], "state": {"step": 2}}


def test_a_batch_carries_no_state_change(api: Any, sid: str) -> None:
    body = {"messages": [{"role": "user", "content": "a", "state": {"set": {"a": 1}}}]}
    assert api("POST", f"/api/v1/sessions/{sid}/messages:batch", query=Q, json_body=body)[0] == 422


def test_an_append_repeated_with_its_message_id_compares_its_state_change(api: Any, sid: str) -> None:
    url = f"/api/v1/sessions/{sid}/messages"
    body = {
        "message_id": "0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10",
        "role": "user",
        "content": "hi",
        "state": {"set": {"n": 1}},
    }
    assert api("POST", url, query=Q, json_body=body)[0] == 201
    assert api("POST", url, query=Q, json_body=body)[0] == 200  # stored: the change is not applied twice
    assert api("GET", _state(sid), query=Q)[1]["version"] == 1
    other = {**body, "state": {"set": {"n": 2}}}
    assert api("POST", url, query=Q, json_body=other)[0] == 409


def test_state_items_sit_beside_the_hot_item(api: Any, sid: str, table_items: Any) -> None:
    api("PATCH", _state(sid), query=Q, json_body={"set": {"a": 1}})
    api("PUT", _agent(sid, "planner"), query=Q, json_body={"state": {"b": 2}})
    items = {item["SK"]["S"]: item for item in table_items() if item["PK"]["S"] == f"SESSION#{sid}"}
    assert items["STATE#SESSION"]["k#a"] == {"S": "1"} and items["STATE#AGENT#planner"]["k#b"] == {"S": "2"}
    assert not any(name.startswith("k#") for name in items["SESSION"])
