"""Costs against DynamoDB Local (issue 9, defect 4): 10,000 twelve-decimal costs total exactly, and costs
below 10^-6 (which boto3 writes in exponent notation, ``1E-12``, and moto cannot ADD) are counted.

The requests go through each route's own ``lambda_handler``, as in ``tests/handlers/test_edge_money.py``, with the
same helpers (``tests/support.py``).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import pytest

from tests.support import append, append_batches, new_session_id, read_totals, twelve_decimal_costs

pytestmark = pytest.mark.dynamodb_local


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
