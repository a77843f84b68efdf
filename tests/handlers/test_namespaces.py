"""Namespaces (ADK's app, the Claude Agent SDK's project): an optional namespace on a session, fixed at
creation, named by every answer that carries the session (get, listing rows, export); a user's listing filtered by
namespace (GSI3, one Query a page); a trusted caller lists every user's sessions of a namespace."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

ALICE, BOB = "ns_alice", "ns_bob"
SESSIONS = "/api/v1/sessions"


def _listed(api: Any, user: str, **query: Any) -> list[dict[str, Any]]:
    status, body, _ = api("GET", f"/api/v1/users/{user}/sessions", query=query or None)
    assert status == 200, body
    return list(body["sessions"])


def _namespace(api: Any, namespace: str, **query: Any) -> tuple[int, Any]:
    status, body, _ = api("GET", f"/api/v1/namespaces/{namespace}/sessions", query=query or None)
    return status, body


def test_a_session_names_its_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    created = new_session(ALICE, namespace="travel")
    assert created["namespace"] == "travel"
    status, read, _ = api("GET", f"{SESSIONS}/{created['session_id']}", query={"user_id": ALICE})
    assert status == 200 and read["namespace"] == "travel"
    assert new_session(ALICE)["namespace"] is None


def test_the_namespace_is_fixed_at_creation(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    sid = new_session(ALICE, namespace="travel")["session_id"]
    change = api("PUT", f"{SESSIONS}/{sid}", query={"user_id": ALICE}, json_body={"namespace": "other"})
    assert change[0] == 422
    assert api("GET", f"{SESSIONS}/{sid}", query={"user_id": ALICE})[1]["namespace"] == "travel"


@pytest.mark.parametrize("namespace", ["", "a#b", "a/b", "x" * 129])
def test_a_malformed_namespace_is_422(api: Any, namespace: str) -> None:
    assert api("POST", SESSIONS, json_body={"user_id": ALICE, "namespace": namespace})[0] == 422


def test_a_users_listing_filtered_by_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    travel = {new_session(ALICE, namespace="listed")["session_id"] for _ in range(2)}
    other = new_session(ALICE, namespace="listed-2")["session_id"]
    plain = new_session(ALICE)["session_id"]
    new_session(BOB, namespace="listed")
    rows = _listed(api, ALICE, namespace="listed")
    assert {row["session_id"] for row in rows} == travel and all(row["namespace"] == "listed" for row in rows)
    assert [row["session_id"] for row in _listed(api, ALICE, namespace="listed-2")] == [other]
    assert {row["session_id"] for row in _listed(api, ALICE)} >= travel | {other, plain}
    assert _listed(api, ALICE, namespace="none-yet") == []


def test_a_namespace_listing_pages_by_cursor(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    made = {new_session(ALICE, namespace="paged")["session_id"] for _ in range(5)}
    seen: list[str] = []
    token = None
    for _ in range(5):
        query = {"namespace": "paged", "page_size": 2, "next_token": token}
        status, body, _ = api("GET", f"/api/v1/users/{ALICE}/sessions", query=query)
        assert status == 200 and len(body["sessions"]) <= 2
        seen += [row["session_id"] for row in body["sessions"]]
        token = body["next_token"]
        if token is None:
            break
    assert sorted(seen) == sorted(made)


def test_a_namespace_with_a_status_is_422(api: Any) -> None:
    query = {"namespace": "travel", "status": "active"}
    assert api("GET", f"/api/v1/users/{ALICE}/sessions", query=query)[0] == 422


def test_a_deleted_session_leaves_its_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    kept = new_session(ALICE, namespace="gone")["session_id"]
    dropped = new_session(ALICE, namespace="gone")["session_id"]
    assert api("DELETE", f"{SESSIONS}/{dropped}", query={"user_id": ALICE, "permanent": "true"})[0] == 200
    assert [row["session_id"] for row in _listed(api, ALICE, namespace="gone")] == [kept]
    assert [row["session_id"] for row in _namespace(api, "gone")[1]["sessions"]] == [kept]


def test_every_users_sessions_of_a_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    mine = {new_session(ALICE, namespace="shared")["session_id"] for _ in range(3)}
    theirs = {new_session(BOB, namespace="shared")["session_id"] for _ in range(2)}
    new_session(BOB, namespace="elsewhere")
    seen: list[dict[str, Any]] = []
    token = None
    for _ in range(5):
        status, body = _namespace(api, "shared", page_size=2, next_token=token)
        assert status == 200 and body["namespace"] == "shared" and len(body["sessions"]) <= 2
        seen += body["sessions"]
        token = body["next_token"]
        if token is None:
            break
    assert {row["session_id"] for row in seen} == mine | theirs
    assert [row["user_id"] for row in seen] == sorted(row["user_id"] for row in seen)  # by user
    assert _namespace(api, "shared", next_token="forged")[0] == 400


def test_only_a_trusted_caller_lists_a_namespace_across_users(
    api: Any, new_session: Callable[..., dict[str, Any]], authorizer_on: None
) -> None:
    path = "/api/v1/namespaces/trusted-only/sessions"
    api("POST", SESSIONS, json_body={"user_id": ALICE, "namespace": "trusted-only"}, claims={"sub": ALICE})
    assert api("GET", path)[0] == 401
    assert api("GET", path, claims={"sub": ALICE})[0] == 403
    assert api("GET", path, claims={"sub": ALICE, "cognito:groups": "admin"})[0] == 403
    status, body, _ = api("GET", path, claims={"sub": "backend", "cognito:groups": "service"})
    assert status == 200 and [row["user_id"] for row in body["sessions"]] == [ALICE]


def test_the_export_names_the_namespace(api: Any, new_session: Callable[..., dict[str, Any]]) -> None:
    new_session("ns_exporter", namespace="exported")
    status, text, _ = api("GET", "/api/v1/users/ns_exporter/export")
    assert status == 200
    sessions = [json.loads(line) for line in text.splitlines() if json.loads(line).get("type") == "session"]
    assert [s["namespace"] for s in sessions] == ["exported"]
