"""What moto does differently from DynamoDB in a way the service depends on, made to match.

* DynamoDB answers a Query of a local secondary index with ``Select=ALL_ATTRIBUTES`` by fetching the
  attributes the index does not project from the table, in the same request (the way the repository finds a
  message by id through ``LSI1``, keys only). moto 5 returns only the projected attributes.
* DynamoDB refuses a Query whose ``FilterExpression`` names a key attribute of the table or of the index
  queried ("Filter Expression can only contain non-primary key attributes"); moto evaluates it. A filter
  that works on moto and fails on DynamoDB is a 500 in production, so moto refuses it too.
* DynamoDB adds numbers written with an exponent (``1E-12``, how Python writes ``Decimal("0.000000000001")``)
  like any other; moto's ``ADD`` reads a number without a ``.`` as an ``int`` and fails on them (a cost of
  1e-12 on a new per-model usage attribute was a cancelled transaction on moto).
* moto keeps every model object it ever created in a class-level list (``instances_tracked``, for its
  dashboard), and ``TransactWriteItems`` deep-copies the whole table, stream records included, for every
  item of a transaction: each copy stayed alive for good. ``make serve`` on moto was killed at 23.4 GB after
  ~945 requests; DynamoDB's memory does not grow with the requests it served. DynamoDB's models here are
  not tracked (nothing of ours reads the dashboard).
* DynamoDB Streams expires a shard iterator 15 minutes after it was handed out; moto keeps every one, and
  the local stream poller takes a fresh one four times a second. Only the newest
  :data:`MAX_SHARD_ITERATORS` are kept.

:func:`apply` makes moto do what DynamoDB does in these cases.
"""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

MAX_SHARD_ITERATORS = 1_000
"""Shard iterators moto keeps (the newest): minutes of the local poller's reads, far more than one read
needs (it uses an iterator at once)."""

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
    _exact_number_arithmetic()
    _untracked_models()
    _expiring_shard_iterators()

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


def _number(text: str) -> Decimal | int:
    """A DynamoDB number's text as DynamoDB reads it: exact, an exponent allowed."""
    return int(text) if text.lstrip("-").isdigit() else Decimal(text)


def _exact_number_arithmetic() -> None:
    """moto's ``ADD``/``SET a = a + :b`` on numbers, reading every number DynamoDB takes (idempotent)."""
    from moto.dynamodb.models.dynamo_type import DDBType, DynamoType

    if getattr(DynamoType, "_session_service_numbers", False):
        return
    add, sub = DynamoType.__add__, DynamoType.__sub__

    def numbers(operation: Any, combine: Any) -> Any:
        def apply(self: Any, other: Any) -> Any:
            if self.type == other.type == DDBType.NUMBER:
                total = combine(_number(self.value), _number(other.value))
                return DynamoType({DDBType.NUMBER: f"{total}"})
            return operation(self, other)

        return apply

    DynamoType.__add__ = numbers(add, lambda a, b: a + b)  # type: ignore[method-assign]
    DynamoType.__sub__ = numbers(sub, lambda a, b: a - b)  # type: ignore[method-assign]
    DynamoType._session_service_numbers = True  # type: ignore[attr-defined]


def _untracked_new(cls: type, *args: Any, **kwargs: Any) -> Any:
    return object.__new__(cls)


def _untracked_models() -> None:
    """DynamoDB's and DynamoDB Streams' moto models, created without joining ``instances_tracked``, where
    nothing would ever free them (idempotent)."""
    import moto.dynamodb.models
    import moto.dynamodbstreams.models
    from moto.core.common_models import BaseModel

    for module in (moto.dynamodb.models.table, moto.dynamodb.models.dynamo_type, moto.dynamodbstreams.models):
        for value in vars(module).values():
            if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == module.__name__:
                value.__new__ = _untracked_new  # type: ignore[method-assign]
                value.instances_tracked.clear()  # type: ignore[attr-defined]


def _expiring_shard_iterators() -> None:
    """moto's DynamoDB Streams keeps only the newest :data:`MAX_SHARD_ITERATORS` iterators (idempotent)."""
    from moto.dynamodbstreams.models import DynamoDBStreamsBackend

    if getattr(DynamoDBStreamsBackend, "_session_service_iterators", False):
        return
    get_shard_iterator = DynamoDBStreamsBackend.get_shard_iterator

    def bounded(self: Any, *args: Any, **kwargs: Any) -> Any:
        iterators = self.shard_iterators
        while len(iterators) >= MAX_SHARD_ITERATORS:
            del iterators[next(iter(iterators))]
        return get_shard_iterator(self, *args, **kwargs)

    DynamoDBStreamsBackend.get_shard_iterator = bounded  # type: ignore[method-assign]
    DynamoDBStreamsBackend._session_service_iterators = True  # type: ignore[attr-defined]
