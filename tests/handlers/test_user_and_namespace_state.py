"""User state and namespace state: a state document per (namespace, user) and per namespace, changed by
top-level key as a session's is (a value replaces, ``null`` is stored, If-Match on the version read), read merged
with a session's in one request, and changed in an append's transaction (one message or a batch: all or nothing).
A namespace's document is shared by every user of the namespace: only a trusted caller changes it (with the
authorizer on; a user gets 403, directly or through an append)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

ALICE, BOB = "shared_alice", "shared_bob"


def _user_state(user: str) -> str:
    return f"/api/v1/users/{user}/state"


def _merged(api: Any, sid: str, user: str) -> dict[str, Any]:
    status, body, _ = api("GET", f"/api/v1/sessions/{sid}/state/merged", query={"user_id": user})
    assert status == 200, body
    return dict(body)


def test_a_users_document_per_namespace(api: Any) -> None:
    status, body, headers = api("GET", _user_state(ALICE), query={"namespace": "ns-a"})
    assert status == 200 and body["state"] == {} and body["version"] == 0 and headers["ETag"] == '"0"'
    change = {"set": {"theme": "dark", "prefs": {"a": 1}, "none": None}}
    status, body, headers = api("PATCH", _user_state(ALICE), query={"namespace": "ns-a"}, json_body=change)
    assert status == 200 and body["state"] == {"theme": "dark", "prefs": {"a": 1}, "none": None}
    assert body["scope"] == "user" and body["namespace"] == "ns-a" and body["user_id"] == ALICE
    assert headers["ETag"] == '"1"'
    assert api("GET", _user_state(ALICE), query={"namespace": "ns-b"})[1]["state"] == {}
    assert api("GET", _user_state(ALICE))[1]["state"] == {}  # the sessions of no namespace: another document
    assert api("GET", _user_state(BOB), query={"namespace": "ns-a"})[1]["state"] == {}
    stale = api("PATCH", _user_state(ALICE), query={"namespace": "ns-a"}, json_body=change, headers={"If-Match": '"0"'})
    assert stale[0] == 412
    replaced = {"set": {"prefs": {"b": 2}}, "remove": ["none"]}
    status, body, _ = api(
        "PATCH", _user_state(ALICE), query={"namespace": "ns-a"}, json_body=replaced, headers={"If-Match": '"1"'}
    )
    assert status == 200 and body["state"] == {"theme": "dark", "prefs": {"b": 2}} and body["version"] == 2


def test_a_users_document_is_the_users_own(api: Any) -> None:
    assert api("PATCH", _user_state(ALICE), query={"user_id": BOB}, json_body={"set": {"a": 1}})[0] == 403
    assert api("GET", _user_state(ALICE), query={"user_id": BOB})[0] == 403
    assert api("PATCH", _user_state(ALICE), query={"user_id": ALICE}, json_body={"set": {"a": 1}})[0] == 200


def test_with_authorizer_another_users_document_is_403(api: Any, authorizer_on: None) -> None:
    change = {"set": {"a": 1}}
    assert api("PATCH", _user_state(ALICE), json_body=change, claims={"sub": BOB})[0] == 403
    assert api("GET", _user_state(ALICE), claims={"sub": BOB})[0] == 403
    assert api("PATCH", _user_state(BOB), json_body=change, claims={"sub": BOB})[0] == 200
    trusted = {"sub": "backend", "cognito:groups": "service"}
    assert api("PATCH", _user_state(ALICE), json_body=change, claims=trusted)[0] == 200


def test_usage_is_unchanged_by_a_users_documents(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    new_session("shared_usage")
    api("PATCH", _user_state("shared_usage"), query={"namespace": "ns-u"}, json_body={"set": {"a": 1}})
    assert api("GET", "/api/v1/users/shared_usage/usage")[0] == 200


def test_a_namespace_document(api: Any) -> None:
    path = "/api/v1/namespaces/ns-doc/state"
    assert api("GET", path)[1]["version"] == 0
    status, body, headers = api("PATCH", path, json_body={"set": {"model": "m1"}})
    assert status == 200 and body == {**body, "scope": "namespace", "namespace": "ns-doc", "state": {"model": "m1"}}
    assert headers["ETag"] == '"1"' and api("GET", path)[1]["state"] == {"model": "m1"}


def test_a_session_read_with_every_scope(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session(ALICE, namespace="ns-merged")["session_id"]
    api("PATCH", f"/api/v1/sessions/{sid}/state", query={"user_id": ALICE}, json_body={"set": {"s": 1}})
    api("PATCH", _user_state(ALICE), query={"namespace": "ns-merged"}, json_body={"set": {"u": 2}})
    api("PATCH", "/api/v1/namespaces/ns-merged/state", json_body={"set": {"n": 3}})
    merged = _merged(api, sid, ALICE)
    assert merged["session"]["state"] == {"s": 1} and merged["user"]["state"] == {"u": 2}
    assert merged["namespace"]["state"] == {"n": 3}
    plain = new_session(ALICE)["session_id"]
    merged = _merged(api, plain, ALICE)
    assert merged["namespace"] is None and merged["user"]["namespace"] is None
    assert api("GET", f"/api/v1/sessions/{sid}/state/merged", query={"user_id": BOB})[0] == 404


def test_an_append_changes_every_scope_in_its_transaction(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session(ALICE, namespace="ns-turn")["session_id"]
    body = {
        "role": "user",
        "content": "hi",
        "state": {"set": {"s": 1}},
        "user_state": {"set": {"u": 1}},
        "namespace_state": {"set": {"n": 1}},
    }
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": ALICE}, json_body=body)[0] == 201
    merged = _merged(api, sid, ALICE)
    assert (merged["session"]["state"], merged["user"]["state"], merged["namespace"]["state"]) == (
        {"s": 1},
        {"u": 1},
        {"n": 1},
    )
    stale = {**body, "content": "again", "user_state": {"set": {"u": 2}, "if_version": 0}}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": ALICE}, json_body=stale)[0] == 412
    assert api("GET", f"/api/v1/sessions/{sid}", query={"user_id": ALICE})[1]["message_count"] == 1
    assert _merged(api, sid, ALICE) == merged


def test_a_batch_changes_every_scope_in_its_transaction(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session(ALICE, namespace="ns-batch")["session_id"]
    batch = {
        "messages": [{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}],
        "state": {"set": {"s": 1}},
        "user_state": {"set": {"u": 1}},
        "namespace_state": {"set": {"n": 1}},
    }
    path = f"/api/v1/sessions/{sid}/messages:batch"
    read = {"If-Match": api("GET", f"/api/v1/sessions/{sid}", query={"user_id": ALICE})[2]["ETag"]}
    assert api("POST", path, query={"user_id": ALICE}, json_body=batch, headers=read)[0] == 201
    merged = _merged(api, sid, ALICE)
    assert merged["user"]["state"] == {"u": 1} and merged["namespace"]["state"] == {"n": 1}
    stale = {**batch, "namespace_state": {"set": {"n": 2}, "if_version": 0}}
    assert api("POST", path, query={"user_id": ALICE}, json_body=stale)[0] == 412
    assert api("GET", f"/api/v1/sessions/{sid}", query={"user_id": ALICE})[1]["message_count"] == 2
    inner = {"messages": [{"role": "user", "content": "q", "user_state": {"set": {"u": 9}}}]}
    assert api("POST", path, query={"user_id": ALICE}, json_body=inner)[0] == 422


def test_a_namespace_change_needs_a_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session(ALICE)["session_id"]
    body = {"role": "user", "content": "hi", "namespace_state": {"set": {"n": 1}}}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query={"user_id": ALICE}, json_body=body)[0] == 409
    assert api("GET", f"/api/v1/sessions/{sid}", query={"user_id": ALICE})[1]["message_count"] == 0


def test_only_a_trusted_caller_changes_a_namespaces_state(api: Any, authorizer_on: None) -> None:
    user, trusted = {"sub": ALICE}, {"sub": "backend", "cognito:groups": "service"}
    created = api("POST", "/api/v1/sessions", json_body={"user_id": ALICE, "namespace": "ns-safe"}, claims=user)
    sid = created[1]["session_id"]
    path = "/api/v1/namespaces/ns-safe/state"
    assert api("PATCH", path, json_body={"set": {"n": 1}}, claims=user)[0] == 403
    assert api("GET", path, claims=user)[0] == 403
    body = {"role": "user", "content": "hi", "namespace_state": {"set": {"n": 1}}}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", json_body=body, claims=user)[0] == 403
    assert api("GET", f"/api/v1/sessions/{sid}", claims=user)[1]["message_count"] == 0
    assert api("PATCH", path, json_body={"set": {"n": 1}}, claims=trusted)[0] == 200
    query = {"user_id": ALICE}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", query=query, json_body=body, claims=trusted)[0] == 201
    own = {"role": "user", "content": "mine", "user_state": {"set": {"u": 1}}}
    assert api("POST", f"/api/v1/sessions/{sid}/messages", json_body=own, claims=user)[0] == 201
    merged = api("GET", f"/api/v1/sessions/{sid}/state/merged", claims=user)[1]
    assert merged["namespace"]["state"] == {"n": 1} and merged["user"]["state"] == {"u": 1}
