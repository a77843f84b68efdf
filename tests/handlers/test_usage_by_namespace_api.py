"""GET /api/v1/users/{user_id}/usage broken down by namespace: the per-namespace usage items the stream function keeps
in the user's partition, answered as ``by_namespace`` rows that add up to the totals (the stream's side is tested in
tests/stream/test_usage_by_namespace.py)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from session_service import wiring
from session_service.data import keys
from session_service.data.dynamo import serialize


def put(ddb: Any, key: dict[str, Any], values: dict[str, Any]) -> None:
    ddb.put_item(TableName=wiring.settings().table_name, Item={**key, **serialize(values)})


def test_rows_by_namespace_add_up_to_the_totals_sorted_by_cost(api: Any, ddb: Any, user: str) -> None:
    # Given the usage item and two namespaces' items as the stream function leaves them, one emptied to zeros
    totals = {"sessions": 4, "active_sessions": 2, "messages": 9, "tokens": 900, "cost": Decimal("2.5")}
    put(ddb, keys.user_usage_key(user), totals)
    app = {"sessions": 2, "active_sessions": 1, "messages": 5, "tokens": 500, "cost": Decimal("0.5")}
    put(ddb, keys.namespace_usage_key(user, "travel-app"), app)
    put(ddb, keys.namespace_usage_key(user, "b:app"), {"sessions": 1, "messages": 4, "tokens": 400, "cost": 2})
    put(ddb, keys.namespace_usage_key(user, "gone"), {"sessions": 0, "messages": 0, "cost": 0})
    # When the user reads their usage
    status, usage, _ = api("GET", f"/api/v1/users/{user}/usage")
    # Then a row per namespace, and one for the sessions of none, by cost
    assert status == 200
    assert usage["by_namespace"] == [
        {"namespace": "b:app", "sessions": 1, "active_sessions": 0, "messages": 4, "tokens": 400, "cost": 2.0},
        {"namespace": "travel-app", "sessions": 2, "active_sessions": 1, "messages": 5, "tokens": 500, "cost": 0.5},
        {"namespace": None, "sessions": 1, "active_sessions": 1, "messages": 0, "tokens": 0, "cost": 0.0},
    ]


def test_a_user_of_no_namespace_has_no_breakdown(api: Any, ddb: Any, user: str) -> None:
    put(ddb, keys.user_usage_key(user), {"sessions": 1, "active_sessions": 1, "messages": 2, "tokens": 3, "cost": 1})
    status, usage, _ = api("GET", f"/api/v1/users/{user}/usage")
    assert status == 200 and usage["messages"] == 2 and usage["by_namespace"] == []


def test_another_users_namespace_usage_is_not_shown(api: Any, ddb: Any, user: str) -> None:
    put(ddb, keys.namespace_usage_key(f"{user}-other", "app"), {"sessions": 1, "messages": 1})
    status, usage, _ = api("GET", f"/api/v1/users/{user}/usage")
    assert status == 200 and usage["by_namespace"] == []
