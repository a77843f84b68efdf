"""What moto does differently from DynamoDB in a way the service depends on, made to match.

* DynamoDB answers a Query of a local secondary index with ``Select=ALL_ATTRIBUTES`` by fetching the
  attributes the index does not project from the table, in the same request (the way the repository finds a
  message by id through ``LSI1``, keys only). moto 5 returns only the projected attributes.
* DynamoDB refuses a Query whose ``FilterExpression`` names a key attribute of the table or of the index
  queried ("Filter Expression can only contain non-primary key attributes"); moto evaluates it. A filter
  that works on moto and fails on DynamoDB is a 500 in production, so moto refuses it too.

:func:`apply` makes moto do what DynamoDB does in both cases.
"""

from __future__ import annotations

import re
from typing import Any

_KEYWORDS = {"AND", "OR", "NOT", "BETWEEN", "IN"}
_NAME = re.compile(r"(?<![:#\w.])(#?[A-Za-z_]\w*)(\s*\()?")


def filter_names(expression: str, names: dict[str, str]) -> set[str]:
    """The attribute names a condition expression reads (``#placeholders`` resolved; functions, keywords
    and ``:values`` left out). Nested paths count by their first name."""
    found = set()
    for token, call in _NAME.findall(expression):
        if call or token.upper() in _KEYWORDS:
            continue
        found.add(names.get(token, token))
    return found


def apply() -> None:
    """Make moto's LSI Queries answer whole items, and refuse Query filters on key attributes (idempotent)."""
    from moto.dynamodb.exceptions import MockValidationException
    from moto.dynamodb.models.table import LocalSecondaryIndex
    from moto.dynamodb.responses import DynamoHandler

    def project(self: Any, item: Any) -> Any:
        return item

    LocalSecondaryIndex.project = project  # type: ignore[method-assign]

    if getattr(DynamoHandler, "_session_service_filters", False):
        return
    original = DynamoHandler._get_filter_expression

    def get_filter_expression(self: Any) -> str | None:
        expression: str | None = original(self)
        if expression and self.body.get("KeyConditionExpression") is not None:  # a Query
            table, index = self.body["TableName"], self.body.get("IndexName")
            keys = {k["AttributeName"] for k in self.dynamodb_backend.get_schema(table_name=table, index_name=None)}
            if index:
                keys |= {k["AttributeName"] for k in self.dynamodb_backend.get_schema(table, index)}
            named = filter_names(expression, self.body.get("ExpressionAttributeNames") or {}) & keys
            if named:
                raise MockValidationException(
                    "Filter Expression can only contain non-primary key attributes: "
                    f"Primary key attribute: {sorted(named)[0]}"
                )
        return expression

    DynamoHandler._get_filter_expression = get_filter_expression  # type: ignore[method-assign]
    DynamoHandler._session_service_filters = True  # type: ignore[attr-defined]
