"""GET /api/v1/users/{user_id}/usage (SPEC section 9): the usage item the stream function keeps, answered as
Usage (the stream's side is tested in tests/stream/test_usage.py and on DynamoDB Local)."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from session_service import wiring
from session_service.data import keys, stats
from session_service.data.dynamo import serialize


def put_usage(ddb: Any, user: str, values: dict[str, Any]) -> None:
    """A usage item and per-model usage items as the stream function leaves them (``values``: the totals, and
    per-model attributes as the hot item names them)."""
    table = wiring.settings().table_name
    totals = {name: value for name, value in values.items() if stats.parse_usage_attribute(name) is None}
    ddb.put_item(TableName=table, Item={**keys.user_usage_key(user), **serialize(totals)})
    rows: dict[str, dict[str, Any]] = {}
    for name, value in values.items():
        parsed = stats.parse_usage_attribute(name)
        if parsed is not None:
            provider, model, suffix = parsed
            rows.setdefault(stats.model_pair(provider, model), {})[stats.USAGE_FIELDS[suffix]] = value
    for pair, row in rows.items():
        item = {**keys.model_usage_key(user, pair), **serialize({"pair": pair, **row})}
        ddb.put_item(TableName=table, Item=item)


def test_a_user_without_sessions_has_zero_usage(api: Any, user: str) -> None:
    status, usage, _ = api("GET", f"/api/v1/users/{user}/usage", query={"user_id": user})
    assert status == 200
    assert usage == {
        "user_id": user,
        "sessions": 0,
        "active_sessions": 0,
        "messages": 0,
        "tokens": 0,
        "cost": 0.0,
        "by_model": [],
        "by_namespace": [],
    }


def test_rows_by_model_add_up_to_the_totals_sorted_by_cost(api: Any, ddb: Any, user: str) -> None:
    claude = ("bedrock", "anthropic.claude-3-5-sonnet-20240620-v1:0")
    values: dict[str, Any] = {"sessions": 3, "active_sessions": 2, "messages": 10, "tokens": 1000}
    values["cost"] = Decimal("3.000000000001")
    for (provider, model), (n, t, c) in {
        claude: (4, 600, Decimal("1.25")),
        ("openai", "gpt-4o"): (3, 300, Decimal("0.000000000001")),
        (None, "llama3"): (1, 0, Decimal("1.25")),
        ("gone", "model"): (0, 0, Decimal(0)),  # a row its messages left: zeros, not shown
    }.items():
        values.update(stats.usage_increments(provider, model, n, t, c))
        values.update({stats.usage_attribute(provider, model, f): 0 for f in "mtc" if not (n or t or c)})
    put_usage(ddb, user, values)
    status, usage, _ = api("GET", f"/api/v1/users/{user}/usage")  # the path names the caller without the query
    assert status == 200
    assert (usage["sessions"], usage["active_sessions"], usage["messages"], usage["tokens"]) == (3, 2, 10, 1000)
    assert usage["cost"] == 3.000000000001
    assert usage["by_model"] == [  # by cost, then by provider and model (null after a name)
        {"provider": "bedrock", "model": claude[1], "messages": 4, "tokens": 600, "cost": 1.25},
        {"provider": None, "model": "llama3", "messages": 1, "tokens": 0, "cost": 1.25},
        {"provider": None, "model": None, "messages": 2, "tokens": 100, "cost": 0.5},  # the totals' rest
        {"provider": "openai", "model": "gpt-4o", "messages": 3, "tokens": 300, "cost": 1e-12},
    ]
