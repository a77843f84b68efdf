"""GET /api/v1/namespaces/{namespace}/usage: a namespace's usage by user, for a trusted caller: the per-namespace
usage items the stream function keeps in each user's partition, found through GSI3 (``NSUSAGE#<namespace>``), one
Query and one BatchGetItem a page (the stream's side: tests/stream/test_usage_by_namespace.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from session_service import wiring
from session_service.data import keys, stats
from session_service.data.dynamo import serialize


def put(ddb: Any, user: str, namespace: str, values: dict[str, Any]) -> None:
    """A user's usage item of a namespace as the stream function leaves it (its GSI3 keys included)."""
    key = keys.namespace_usage_key(user, namespace)
    index = keys.namespace_usage_index_keys(user, namespace)
    item = {**key, **serialize({**index, **values})}
    ddb.put_item(TableName=wiring.settings().table_name, Item=item)


def row(user: str, sessions: int, active: int, messages: int, tokens: int, cost: float) -> dict[str, Any]:
    return {
        "user_id": user,
        "sessions": sessions,
        "active_sessions": active,
        "messages": messages,
        "tokens": tokens,
        "cost": cost,
    }


def test_a_namespaces_usage_is_a_row_per_user_paged_in_user_order(api: Any, ddb: Any) -> None:
    # Given three users' usage of a namespace, one emptied to zeros, and usage of another namespace
    put(ddb, "nu-carol", "nu-app", {"sessions": 1, "active_sessions": 1, "messages": 2, "tokens": 20, "cost": 1})
    put(ddb, "nu-alice", "nu-app", {"sessions": 2, "messages": 5, "tokens": 50, "cost": Decimal("0.000000000001")})
    put(ddb, "nu-bob", "nu-app", {"sessions": 0, "messages": 0, "cost": 0})
    put(ddb, "nu-alice", "nu-other", {"sessions": 9, "messages": 9})
    # When a caller reads the namespace's usage, two index entries a page
    status, first, _ = api("GET", "/api/v1/namespaces/nu-app/usage", query={"page_size": 2})
    assert status == 200 and first["namespace"] == "nu-app" and first["next_token"]
    status, second, _ = api(
        "GET", "/api/v1/namespaces/nu-app/usage", query={"page_size": 2, "next_token": first["next_token"]}
    )
    # Then each user that holds something has a row, in user id order; the emptied one has none
    assert status == 200 and second["next_token"] is None
    assert first["users"] + second["users"] == [row("nu-alice", 2, 0, 5, 50, 1e-12), row("nu-carol", 1, 1, 2, 20, 1.0)]
    # A cursor of another namespace's listing is refused
    other = api("GET", "/api/v1/namespaces/nu-other/usage", query={"page_size": 2, "next_token": first["next_token"]})
    assert other[0] == 400 and other[1]["detail"]


def test_a_user_being_erased_has_no_row(api: Any, ddb: Any) -> None:
    put(ddb, "nu-erin", "nu-erasing", {"sessions": 1, "messages": 1})
    put(ddb, "nu-fred", "nu-erasing", {"sessions": 1, "messages": 3})
    counts = {**keys.user_counts_key("nu-erin"), **serialize({stats.ERASING: "2026-01-01T00:00:00.000000Z"})}
    ddb.put_item(TableName=wiring.settings().table_name, Item=counts)
    status, page, _ = api("GET", "/api/v1/namespaces/nu-erasing/usage")
    assert status == 200 and [r["user_id"] for r in page["users"]] == ["nu-fred"]


def test_a_namespace_without_usage_has_no_rows(api: Any) -> None:
    assert api("GET", "/api/v1/namespaces/nu-empty/usage")[1] == {
        "namespace": "nu-empty",
        "users": [],
        "next_token": None,
    }


def test_a_malformed_namespace_or_page_size_is_422(api: Any, assert_validation_error: Any) -> None:
    assert_validation_error(*api("GET", "/api/v1/namespaces/bad%23ns/usage")[:2])
    assert_validation_error(*api("GET", "/api/v1/namespaces/nu-app/usage", query={"page_size": 500})[:2])


def test_only_a_trusted_caller_reads_a_namespaces_usage(api: Any, ddb: Any, authorizer_on: None) -> None:
    put(ddb, "nu-gina", "nu-safe", {"sessions": 1, "messages": 1})
    path = "/api/v1/namespaces/nu-safe/usage"
    assert api("GET", path)[0] == 401
    for claims in ({"sub": "nu-gina"}, {"sub": "nu-gina", "cognito:groups": "admin,services"}):
        status, body, _ = api("GET", path, claims=claims)
        assert status == 403 and body["detail"], claims
    status, page, _ = api("GET", path, claims={"sub": "backend", "cognito:groups": "service"})
    assert status == 200 and [r["user_id"] for r in page["users"]] == ["nu-gina"]
