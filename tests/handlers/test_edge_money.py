"""Money at the edge (issue 9, defect 4; SPEC sections 3-4).

A cost has up to 12 decimal places and 0 to 10^6 USD; it is read from the JSON text as a Decimal (never
through a float), ``-0.0`` is 0, and every cost and total goes back on the wire as a JSON number with
all of its digits, even where a double would round it.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module, rest_event
from devserver.template import route_for
from session_service.models import EXACT_NUMBERS, MAX_BATCH_MESSAGES, Session, Stats
from tests.support import MONEY_USER as USER
from tests.support import append, append_batches, exact, new_session_id, read_totals, send, twelve_decimal_costs

NewSession = Callable[..., dict[str, Any]]
TableItems = Callable[[], list[dict[str, Any]]]


# Up to 12 decimals below 10^6: 18 significant digits, beyond what a double holds (15-17). Costs below
# 10^-6 (written 1E-7 and smaller) are tested against DynamoDB Local (tests/integration/test_edge_money_local.py):
# moto 5.2.5 cannot ADD a number in exponent notation (DynamoType.__add__ reads "1E-12" with int()).
TWELVE_DECIMALS = ["0.100000000001", "0.123456789012", "999999.999999999999", "123456.789012345678", "0.1", "7"]


def test_twelve_decimal_costs_round_trip_exactly(api: Any) -> None:
    sid = new_session_id()
    for cost in TWELVE_DECIMALS:
        status, text = append(sid, cost)
        assert status == 201, text
        assert exact(text)["cost_usd"] == Decimal(cost)
        assert f'"cost_usd":{cost}' in text or float(cost) == json.loads(text)["cost_usd"]
    status, text = send("GET", f"/api/v1/sessions/{sid}/messages", query={"user_id": USER})
    assert status == 200
    assert [m["cost_usd"] for m in exact(text)["messages"]] == [Decimal(c) for c in TWELVE_DECIMALS]
    total = sum((Decimal(c) for c in TWELVE_DECIMALS), Decimal(0))
    assert read_totals(sid) == [total] * 3
    assert float(total) != total  # the double nearest this total is another number


def test_a_cost_a_double_cannot_hold_is_written_digit_for_digit(api: Any) -> None:
    sid = new_session_id()
    status, text = append(sid, "999999.999999999999")
    assert status == 201
    assert '"cost_usd":999999.999999999999,' in text
    assert json.loads(text)["cost_usd"] == 1e6  # a float reader gets the nearest double, as for any JSON number


def test_a_replayed_create_answers_the_same_exact_digits(api: Any) -> None:
    # Given an append with an Idempotency-Key whose cost a double cannot hold (the answer is kept for replay)
    sid = new_session_id()
    route, params = route_for("POST", f"/api/v1/sessions/{sid}/messages")
    event = rest_event(
        "POST",
        f"/api/v1/sessions/{sid}/messages",
        resource=route.path,
        path_parameters=params,
        query={"user_id": [USER]},
        headers={"Content-Type": "application/json", "Idempotency-Key": "exact-replay"},
        body='{"role":"user","content":"x","cost_usd":999999.999999999999}',
    )
    handler = load_handler_module(route.code_dir).lambda_handler
    first, again = handler(event, LambdaContext()), handler(event, LambdaContext())
    # Then the first answer and its replay are the same text, with every digit
    assert first["statusCode"] == again["statusCode"] == 201
    assert '"cost_usd":999999.999999999999,' in first["body"]
    assert again["body"] == first["body"]


@pytest.mark.parametrize(
    "cost",
    ["1.0000000000000001", "0.0000000000001", "1e-13", "1000000.000000000001", "-0.000000000001", "1E+7", '"1"'],
)
def test_costs_beyond_12_decimals_or_the_range_are_422_and_store_nothing(
    api: Any, table_items: TableItems, cost: str
) -> None:
    sid = new_session_id()
    before = table_items()
    status, text = append(sid, cost)
    assert status == 422, text
    assert exact(text)["detail"][0]["loc"] == ["body", "cost_usd"]
    assert table_items() == before


@pytest.mark.parametrize("zero", ["-0.0", "-0", "0E-20", "-0e5", "0.000000000000"])
def test_negative_zero_is_stored_and_echoed_as_zero(api: Any, table_items: TableItems, zero: str) -> None:
    sid = new_session_id()
    status, text = append(sid, zero)
    assert status == 201, text
    assert '"cost_usd":0.0,' in text
    items = [i for i in table_items() if "cost_usd" in i]
    assert [i["cost_usd"] for i in items] == [{"N": "0"}]
    assert read_totals(sid) == [Decimal(0)] * 3
    assert '"total_cost":0.0' in send("GET", f"/api/v1/sessions/{sid}", query={"user_id": USER})[1]


def test_1e3_is_stored_as_1000(api: Any, table_items: TableItems) -> None:
    sid = new_session_id()
    assert append(sid, "1e3")[0] == 201
    assert [i["cost_usd"] for i in table_items() if "cost_usd" in i] == [{"N": "1000"}]
    assert read_totals(sid) == [Decimal(1000)] * 3


def test_twelve_decimal_costs_total_exactly_over_many_batches(api: Any) -> None:
    """10,000 costs run against DynamoDB Local (tests/integration/test_edge_money_local.py): moto 5.2.5 deep-copies
    the table for each action of a transaction, so a few batches keep the unit tier fast."""
    # Given 297 costs with 12 decimals each, appended in 3 batches (one DynamoDB ADD per batch)
    sid = new_session_id()
    costs = twelve_decimal_costs(3 * MAX_BATCH_MESSAGES, seed=9)
    append_batches(sid, costs)
    # Then every total is the exact sum, written with all of its digits
    total = sum(costs, Decimal(0))
    assert read_totals(sid) == [total] * 3


@pytest.mark.parametrize(
    "value",
    [
        Decimal("12345678901234567890.123456789012345678"),  # 38 digits: DynamoDB's precision
        Decimal("999999.999999999999"),
        Decimal("0.000000000001"),
        Decimal("1.5"),
        Decimal("1000000"),
    ],
)
def test_money_serialises_exactly_for_the_http_response_and_as_a_replayable_string(value: Decimal) -> None:
    session = Session.model_validate(
        {
            "session_id": "7e02708b-ad2d-44d6-a851-d02d97137757",
            "user_id": USER,
            "status": "active",
            "is_active": True,
            "total_cost": value,
            "created_at": "2025-01-01T00:00:00Z",
            "updated_at": "2025-01-01T00:00:00Z",
            "last_activity": "2025-01-01T00:00:00Z",
            "expires_at": "2025-01-01T00:00:00Z",
        }
    )
    marked = session.model_dump(mode="json", context={EXACT_NUMBERS: "m"})["total_cost"]
    plain = session.model_dump(mode="json")["total_cost"]
    if Decimal(repr(float(value))) == value:
        assert marked == plain == float(value)  # the seed's wire: a plain JSON number
    else:
        assert marked == {"m": str(value)}  # the response serializer writes these digits as a number
        assert plain == str(value)
    assert Session.model_validate({**session.model_dump(), "total_cost": plain}).total_cost == value
    assert Stats(total_cost=value).model_dump(mode="json", context={EXACT_NUMBERS: "m"})["total_cost"] == marked


@pytest.mark.fresh_table  # writes the global STATS item
def test_stats_total_is_exact_on_the_wire(api: Any, ddb: Any, table: str) -> None:
    # Given statistics whose total has 26 digits (the stream function adds every session's costs)
    total = "12345678901234.123456789012"
    item = {"PK": {"S": "STATS"}, "SK": {"S": "GLOBAL"}, "total_sessions": {"N": "2"}, "total_cost": {"N": total}}
    ddb.put_item(TableName=table, Item=item)
    # Then GET /api/v1/sessions/stats writes every digit, as a number
    status, text = send("GET", "/api/v1/sessions/stats")
    assert status == 200, text
    assert f'"total_cost":{total},' in text
    assert exact(text)["total_cost"] == Decimal(total)
