"""Listing rows with their state: ``?include=state`` on a user's listing of a namespace and on a namespace's
listing gives each row its merged state (the session's document, its own user's document of the namespace, the
namespace's), read with the page's rows by BatchGetItem: the DynamoDB requests of a page do not grow with its
rows (beyond BatchGetItem's 100 keys a call)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from session_service import wiring

SESSIONS = "/api/v1/sessions"
ALICE, BOB = "ls_alice", "ls_bob"


def _create(api: Any, user: str, namespace: str, **state: Any) -> str:
    status, body, _ = api("POST", SESSIONS, json_body={"user_id": user, "namespace": namespace, **state})
    assert status == 201, body
    return str(body["session_id"])


class Requests:
    """DynamoDB requests by operation name, counted on the handlers' client."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def __call__(self, model: Any, **_: Any) -> None:
        self.names.append(model.name)


@pytest.fixture
def requests(repo: Any) -> Iterator[Requests]:
    counter = Requests()
    events = wiring.dynamodb_client().meta.events
    events.register("before-call.dynamodb", counter)
    yield counter
    events.unregister("before-call.dynamodb", counter)


def test_a_users_rows_carry_their_state(api: Any) -> None:
    namespace = f"ls-{uuid.uuid4().hex[:8]}"
    first = _create(api, ALICE, namespace, state={"n": 1}, user_state={"u": "a"})
    second = _create(api, ALICE, namespace, state={"n": 2})
    api("PATCH", f"/api/v1/namespaces/{namespace}/state", json_body={"set": {"shared": True}})
    query = {"namespace": namespace, "include": "state"}
    status, body, _ = api("GET", f"/api/v1/users/{ALICE}/sessions", query=query)
    assert status == 200
    rows = {row["session_id"]: row["state"] for row in body["sessions"]}
    assert rows[first]["session"]["state"] == {"n": 1} and rows[second]["session"]["state"] == {"n": 2}
    assert all(state["user"]["state"] == {"u": "a"} and state["user"]["user_id"] == ALICE for state in rows.values())
    assert all(state["namespace"]["state"] == {"shared": True} for state in rows.values())
    plain = api("GET", f"/api/v1/users/{ALICE}/sessions", query={"namespace": namespace})[1]
    assert all(row.get("state") is None for row in plain["sessions"])


def test_a_users_rows_of_every_namespace_carry_their_own(api: Any) -> None:
    user = f"ls_{uuid.uuid4().hex[:8]}"
    one = _create(api, user, "ls-one", user_state={"where": "one"})
    two = _create(api, user, "ls-two", user_state={"where": "two"})
    status, body, _ = api("GET", f"/api/v1/users/{user}/sessions", query={"include": "state"})
    assert status == 200
    rows = {row["session_id"]: row["state"] for row in body["sessions"]}
    assert rows[one]["user"]["state"] == {"where": "one"} and rows[one]["namespace"]["namespace"] == "ls-one"
    assert rows[two]["user"]["state"] == {"where": "two"} and rows[two]["namespace"]["namespace"] == "ls-two"


def test_a_namespaces_rows_carry_each_users_own_document(api: Any) -> None:
    namespace = f"ls-{uuid.uuid4().hex[:8]}"
    mine = _create(api, ALICE, namespace, state={"s": "a"}, user_state={"who": "alice"}, namespace_state={"n": 1})
    theirs = _create(api, BOB, namespace, user_state={"who": "bob"})
    status, body, _ = api("GET", f"/api/v1/namespaces/{namespace}/sessions", query={"include": "state"})
    assert status == 200
    rows = {row["session_id"]: row for row in body["sessions"]}
    assert rows[mine]["state"]["user"]["state"] == {"who": "alice"} and rows[mine]["state"]["user"]["user_id"] == ALICE
    assert rows[theirs]["state"]["user"]["state"] == {"who": "bob"} and rows[theirs]["state"]["user"]["user_id"] == BOB
    assert rows[mine]["state"]["session"]["state"] == {"s": "a"} and rows[theirs]["state"]["session"]["version"] == 0
    assert all(row["state"]["namespace"]["state"] == {"n": 1} for row in rows.values())


@pytest.mark.parametrize("route", ["user", "namespace"])
def test_a_pages_requests_do_not_grow_with_its_rows(api: Any, requests: Requests, route: str) -> None:
    namespace = f"ls-{uuid.uuid4().hex[:8]}"
    users = [f"ls_{uuid.uuid4().hex[:6]}" for _ in range(3)]
    for number in range(30):
        _create(api, users[number % 3] if route == "namespace" else ALICE, namespace, state={"n": number})
    path = f"/api/v1/namespaces/{namespace}/sessions" if route == "namespace" else f"/api/v1/users/{ALICE}/sessions"
    namespace_query = {} if route == "namespace" else {"namespace": namespace}
    costs = []
    for page_size in (2, 30):
        requests.names.clear()
        status, body, _ = api("GET", path, query={**namespace_query, "include": "state", "page_size": page_size})
        assert status == 200 and len(body["sessions"]) == page_size
        assert all(
            row["state"]["session"]["state"] == {"n": int(row["state"]["session"]["state"]["n"])}
            for row in body["sessions"]
        )
        costs.append(list(requests.names))
    assert costs[0] == costs[1] == ["Query", "BatchGetItem"]
