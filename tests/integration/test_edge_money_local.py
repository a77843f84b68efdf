"""Costs against DynamoDB Local (issue 9, defect 4): 10,000 twelve-decimal costs total exactly, and costs
below 10^-6 (which boto3 writes in exponent notation, ``1E-12``, and moto cannot ADD) are counted.

The requests go through each route's own ``lambda_handler``, as in ``tests/handlers/test_edge_money.py``; the
helpers below are this module's own (test modules never import each other).
"""

from __future__ import annotations

import json
import random
from decimal import Decimal
from typing import Any

import pytest

from devserver.lambda_runtime import invoke_route
from session_service.models import MAX_BATCH_MESSAGES

pytestmark = pytest.mark.dynamodb_local

USER = "edge_money_user"


def send(method: str, path: str, text: str | None = None, query: dict[str, str] | None = None) -> tuple[int, str]:
    """The raw status and body text of a request (the body is sent as written, read back unparsed)."""
    response = invoke_route(method, path, query={k: [v] for k, v in (query or {}).items()}, body=text)
    return int(response["statusCode"]), str(response["body"])


def exact(text: str) -> Any:
    """JSON with every number read as the Decimal it spells (what a careful client does)."""
    return json.loads(text, parse_float=Decimal, parse_int=Decimal)


def new_session_id() -> str:
    status, text = send("POST", "/api/v1/sessions", json.dumps({"user_id": USER}))
    assert status == 201, text
    return str(exact(text)["session_id"])


def append(sid: str, cost: str) -> tuple[int, str]:
    text = f'{{"role":"user","content":"x","cost_usd":{cost}}}'
    return send("POST", f"/api/v1/sessions/{sid}/messages", text, {"user_id": USER})


def read_totals(sid: str) -> list[Decimal]:
    """``total_cost`` as GET, the summary and the user's listing write it (numbers, read exactly)."""
    q = {"user_id": USER}
    got = send("GET", f"/api/v1/sessions/{sid}", query=q)
    summary = send("GET", f"/api/v1/sessions/{sid}/summary", query=q)
    listing = send("GET", f"/api/v1/users/{USER}/sessions")
    for status, text in (got, summary, listing):
        assert status == 200, text
        assert '"total_cost":"' not in text  # a JSON number, never a string
    return [
        exact(got[1])["total_cost"],
        exact(summary[1])["total_cost"],
        *[s["total_cost"] for s in exact(listing[1])["sessions"] if s["session_id"] == sid],
    ]


def twelve_decimal_costs(count: int, seed: int) -> list[Decimal]:
    rng = random.Random(seed)
    return [Decimal(rng.randint(10**11, 10**12 - 1)).scaleb(-12) for _ in range(count)]


def append_batches(sid: str, costs: list[Decimal]) -> None:
    for start in range(0, len(costs), MAX_BATCH_MESSAGES):
        batch = [f'{{"role":"user","content":"m","cost_usd":{c}}}' for c in costs[start : start + MAX_BATCH_MESSAGES]]
        status, text = send(
            "POST", f"/api/v1/sessions/{sid}/messages:batch", f'{{"messages":[{",".join(batch)}]}}', {"user_id": USER}
        )
        assert status == 201, text


def test_ten_thousand_twelve_decimal_costs_total_exactly(local_repo: Any) -> None:
    # Given 10,000 costs with 12 decimals, appended through the handler in 102 batches (one ADD each)
    sid = new_session_id()
    costs = twelve_decimal_costs(10_000, seed=11)
    append_batches(sid, costs)
    # Then GET, the summary and the listing write the exact sum (38 digits of precision in DynamoDB)
    assert read_totals(sid) == [sum(costs, Decimal(0))] * 3


def test_costs_below_a_micro_dollar_are_counted_exactly(local_repo: Any) -> None:
    sid = new_session_id()
    costs = ["0.000000000001", "1e-12", "0.000000123456", "0.5", "0.000000000001"]
    for cost in costs:
        status, text = append(sid, cost)
        assert status == 201, text
    assert read_totals(sid) == [sum((Decimal(c) for c in costs), Decimal(0))] * 3
