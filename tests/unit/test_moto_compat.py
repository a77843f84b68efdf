"""devserver.moto_compat: moto answers as DynamoDB does where the service depends on it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from botocore.exceptions import ClientError

from devserver.moto_compat import filter_names

TABLE = os.environ["TABLE_NAME"]


def test_filter_names_reads_names_not_values_functions_or_keywords() -> None:
    expression = "NOT (#k BETWEEN :a AND :b) AND attribute_exists(created_at) AND size(cuts.x) < :n OR entity IN (:m)"
    assert filter_names(expression, {"#k": "SK"}) == {"SK", "created_at", "cuts", "entity"}


@pytest.mark.parametrize(
    ("expression", "names"),
    [("SK = :v", {}), ("NOT (#k BETWEEN :v AND :v)", {"#k": "SK"}), ("begins_with(PK, :v)", {})],
)
def test_a_query_filter_on_a_key_attribute_is_refused(ddb: Any, expression: str, names: dict[str, str]) -> None:
    query: dict[str, Any] = {
        "TableName": TABLE,
        "KeyConditionExpression": "PK = :pk",
        "FilterExpression": expression,
        "ExpressionAttributeValues": {":pk": {"S": "SESSION#x"}, ":v": {"S": "MSG#"}},
    }
    if names:
        query["ExpressionAttributeNames"] = names
    with pytest.raises(ClientError, match="non-primary key attributes"):
        ddb.query(**query)


def test_a_query_filter_on_other_attributes_is_evaluated(ddb: Any) -> None:
    ddb.put_item(TableName=TABLE, Item={"PK": {"S": "P#compat"}, "SK": {"S": "a"}, "n": {"N": "1"}})
    ddb.put_item(TableName=TABLE, Item={"PK": {"S": "P#compat"}, "SK": {"S": "b"}, "n": {"N": "2"}})
    found = ddb.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :pk",
        FilterExpression="n > :one",
        ExpressionAttributeValues={":pk": {"S": "P#compat"}, ":one": {"N": "1"}},
    )["Items"]
    assert [item["SK"]["S"] for item in found] == ["b"]


def test_an_lsi_query_answers_the_whole_item(ddb: Any) -> None:
    item = {"PK": {"S": "P#lsi"}, "SK": {"S": "MSG#1#m"}, "LSI1SK": {"S": "m"}, "content": {"S": "hello"}}
    ddb.put_item(TableName=TABLE, Item=item)
    found = ddb.query(
        TableName=TABLE,
        IndexName="LSI1",
        KeyConditionExpression="PK = :pk AND LSI1SK = :id",
        ExpressionAttributeValues={":pk": {"S": "P#lsi"}, ":id": {"S": "m"}},
        Select="ALL_ATTRIBUTES",
    )["Items"]
    assert found == [item]


def test_add_takes_numbers_written_with_an_exponent(ddb: Any) -> None:
    """As DynamoDB does: ``1E-12`` is Python's text of ``Decimal("0.000000000001")``; moto read it as an int."""
    key = {"PK": {"S": "P#compat"}, "SK": {"S": "numbers"}}
    for value in ("1E-12", "2", "0.5", "-1E+2"):
        ddb.update_item(
            TableName=TABLE,
            Key=key,
            UpdateExpression="ADD n :v",
            ExpressionAttributeValues={":v": {"N": value}},
        )
    from decimal import Decimal

    assert Decimal(ddb.get_item(TableName=TABLE, Key=key)["Item"]["n"]["N"]) == Decimal("-97.499999999999")
