"""Every DynamoDB call of the service, and the translation of its failures into domain errors.

The operation families and the stream function never call boto3 themselves: they build requests with
:mod:`session_service.data.reads` and :mod:`session_service.data.actions` (keys: :mod:`session_service.data.keys`)
and run them here, through a :class:`Table` or the functions below. This module is the one owner of DynamoDB's
error codes.

* :func:`call` runs one request; throttling and service errors become
  :class:`~session_service.errors.ServiceUnavailable`, an unreachable or missing table
  :class:`~session_service.errors.StoreUnavailable`.
* :func:`conditional` runs one conditional write and raises :class:`ConditionFailed` with the item as it was
  (``ReturnValuesOnConditionCheckFailure=ALL_OLD``), so the caller tells "missing" from "stale" without a
  second read.
* :func:`transact_write` runs ``TransactWriteItems`` with a ``ClientRequestToken`` and retries conflicts
  (:func:`session_service.data.actions.transact` renders typed actions into it).
* :func:`query_page`, :func:`query_keys`, :func:`batch_get` and :func:`delete_keys` page and batch within
  DynamoDB's limits (1 MB a Query page, 100 keys a BatchGetItem, 25 requests a BatchWriteItem).

Items cross this module's boundary as plain Python values (numbers are :class:`~decimal.Decimal`);
:func:`serialize` and :func:`deserialize` convert to and from DynamoDB JSON.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from session_service.errors import PayloadTooLarge, ServiceUnavailable, StoreUnavailable

MAX_TRANSACTION_ATTEMPTS = 6
"""Attempts for a transaction cancelled by ``TransactionConflict`` (concurrent writers of one item)."""
MAX_TRANSACTION_ITEMS = 100
"""Actions in one TransactWriteItems (an AWS limit)."""
MAX_TRANSACTION_BYTES = 4_000_000
"""Aggregate item size one TransactWriteItems may carry (4 MB, an AWS limit; counted in decimal MB to be safe)."""
MAX_BATCH_GET_KEYS = 100
"""Keys in one BatchGetItem (an AWS limit)."""
MAX_BATCH_WRITE_REQUESTS = 25
"""Requests in one BatchWriteItem (an AWS limit)."""
MAX_QUERY_ROUND_TRIPS = 50
"""Bound on the Queries one :func:`query_page` may make (skipping to seed 002's ``page`` N without a cursor)."""
MAX_UNPROCESSED_ATTEMPTS = 8
"""Rounds of retrying a batch's unprocessed keys or requests before giving up (503)."""

CONDITIONAL_CHECK_FAILED = "ConditionalCheckFailedException"
VALIDATION = "ValidationException"
TRANSACTION_CANCELED = "TransactionCanceledException"
_RETRYABLE_CANCELLATIONS = {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}
_THROTTLING = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
    # A single-item write that races a transaction on the same item (an append) is cancelled with this;
    # botocore does not retry it, the caller may (503 with Retry-After).
    "TransactionConflictException",
    "ReplicatedWriteConflictException",
}
_UNREACHABLE = {"ResourceNotFoundException", "UnrecognizedClientException", "AccessDeniedException"}

_serializer = TypeSerializer()
_deserializer = TypeDeserializer()


def serialize(item: dict[str, Any]) -> dict[str, Any]:
    """Plain Python values to DynamoDB JSON (``None`` values are dropped)."""
    return {k: _serializer.serialize(v) for k, v in item.items() if v is not None}


def deserialize(item: dict[str, Any]) -> dict[str, Any]:
    """DynamoDB JSON to plain Python values (numbers become ``Decimal``)."""
    return {k: _deserializer.deserialize(v) for k, v in item.items()}


def item_size(item: dict[str, Any]) -> int:
    """An upper bound of a plain item's DynamoDB size in bytes: names and strings as UTF-8, numbers 21 bytes."""
    size = 0
    for name, value in item.items():
        size += len(name.encode("utf-8"))
        size += len(value.encode("utf-8")) if isinstance(value, str) else 21
    return size


class ConditionFailed(Exception):
    """A conditional write's condition did not hold. ``item`` is the item as it was (plain values), or ``None``
    when it did not exist."""

    def __init__(self, item: dict[str, Any] | None) -> None:
        super().__init__("condition failed")
        self.item = item


class TransactionCanceled(Exception):
    """A transaction's condition did not hold. ``reasons`` are DynamoDB's cancellation reasons, one per action
    in order (``Code``, and ``Item`` as plain values where ``ReturnValuesOnConditionCheckFailure`` asked for it)."""

    def __init__(self, reasons: list[dict[str, Any]]) -> None:
        super().__init__("transaction canceled")
        self.reasons = reasons

    def failed(self, index: int) -> bool:
        """True when action ``index`` (negative counts from the end) failed its condition."""
        try:
            return self.reasons[index].get("Code") == "ConditionalCheckFailed"
        except IndexError:
            return False

    def item(self, index: int) -> dict[str, Any] | None:
        """The item action ``index`` found (plain values), when DynamoDB returned it."""
        try:
            raw = self.reasons[index].get("Item")
        except IndexError:
            return None
        return deserialize(raw) if raw else None


class TransactionInvalid(ServiceUnavailable):
    """A transaction DynamoDB refused as invalid (a ``ValidationError`` cancellation reason) although each request
    was well formed: an item would grow past 400 KB. A :class:`ServiceUnavailable` (503) unless the operation
    knows what it means (a state change: the document's size, 413)."""


def error_code(exc: ClientError) -> str:
    """The AWS error code of a botocore ``ClientError``."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate(exc: Exception) -> Exception:
    """Map a botocore failure that no condition explains to a domain error.

    Throttling and DynamoDB service errors become :class:`ServiceUnavailable` (503 with ``Retry-After``);
    a table that is missing or unreachable, and connection failures, :class:`StoreUnavailable` (503).
    Anything else is returned unchanged (a bug of ours: a logged 500).
    """
    if isinstance(exc, ClientError):
        code = error_code(exc)
        if code in _THROTTLING:
            return ServiceUnavailable()
        if code in _UNREACHABLE:
            return StoreUnavailable()
    elif isinstance(exc, BotoCoreError):  # connection refused, timeouts, missing credentials
        return StoreUnavailable()
    return exc


def call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    """``client.<operation>(**kwargs)`` with failures mapped by :func:`translate`.

    Raises :class:`ServiceUnavailable`, :class:`StoreUnavailable`, or the botocore error of a bug.
    """
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        translated = translate(exc)
        if translated is exc:
            raise
        raise translated from exc
    return response


def answers(client: Any, table: str, key: dict[str, Any]) -> bool:
    """True when ``table`` answers a GetItem of ``key`` (a health check); never raises."""
    try:
        call(client, "get_item", TableName=table, Key=key)
    except (ServiceUnavailable, StoreUnavailable, ClientError, BotoCoreError):
        return False
    return True


def conditional(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    """A conditional ``put_item``/``update_item``/``delete_item``; returns DynamoDB's response.

    Asks for the old item on failure and raises :class:`ConditionFailed` with it; other failures as :func:`call`.
    """
    try:
        return call(client, operation, ReturnValuesOnConditionCheckFailure="ALL_OLD", **kwargs)
    except ClientError as exc:
        if error_code(exc) != CONDITIONAL_CHECK_FAILED:
            raise
        old = exc.response.get("Item")
        raise ConditionFailed(deserialize(old) if old else None) from exc


def transact_write(
    client: Any,
    actions: list[dict[str, Any]],
    *,
    token: str | None = None,
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Run TransactWriteItems, retrying a cancellation by ``TransactionConflict`` or throttling with jittered
    backoff, at most :data:`MAX_TRANSACTION_ATTEMPTS` times.

    Each attempt carries a ``ClientRequestToken`` (``token``, or a fresh UUID), so botocore's own retry of a
    request whose answer was lost is applied once. A cancelled attempt applied nothing, so the next one may
    draw a new token unless ``token`` was given (a caller-derived token keeps retries of one logical write
    idempotent for DynamoDB's 10-minute token window). Raises :class:`TransactionCanceled` when a condition
    failed, :class:`ServiceUnavailable` when conflicts or throttling do not stop, :class:`StoreUnavailable`
    when DynamoDB cannot be reached, :class:`PayloadTooLarge` when DynamoDB refuses a request past
    :data:`MAX_TRANSACTION_BYTES` (a backstop: the operations count their writes before; any other refusal of a
    request as invalid is a bug of ours, a 500).
    """
    attempt_token = token or str(uuid.uuid4())
    for attempt in range(MAX_TRANSACTION_ATTEMPTS):
        try:
            call(client, "transact_write_items", TransactItems=actions, ClientRequestToken=attempt_token)
            return
        except ClientError as exc:
            if error_code(exc) == VALIDATION and _request_bytes(actions) > MAX_TRANSACTION_BYTES:
                raise PayloadTooLarge("Request too large for one transaction (4 MB)") from exc
            if error_code(exc) != TRANSACTION_CANCELED:
                raise
            reasons = exc.response.get("CancellationReasons", [])
            codes = {r.get("Code") for r in reasons}
            if "ConditionalCheckFailed" in codes:
                raise TransactionCanceled(reasons) from exc
            if "ValidationError" in codes:
                raise TransactionInvalid() from exc
            if not codes & _RETRYABLE_CANCELLATIONS:
                raise ServiceUnavailable() from exc
            (sleep or time.sleep)(min(1.0, 0.02 * 2**attempt) * random.random())
            attempt_token = token or str(uuid.uuid4())
    raise ServiceUnavailable()


def _request_bytes(actions: list[dict[str, Any]]) -> int:
    """The size of a transaction's actions as sent (DynamoDB JSON text, UTF-8): what its 4 MB bound measures."""
    return len(json.dumps(actions, separators=(",", ":"), default=str).encode("utf-8"))


@dataclass
class Page:
    """The raw items (DynamoDB JSON) of one listing page, and the key to continue after (``None`` at the end)."""

    items: list[dict[str, Any]]
    last_evaluated: dict[str, Any] | None


def query_page(
    client: Any,
    query: dict[str, Any],
    *,
    skip: int,
    take: int,
    start_key: dict[str, Any] | None,
    keep: Callable[[dict[str, Any]], bool] | None = None,
) -> Page:
    """Collect ``take`` items of ``query`` after skipping ``skip``, starting after ``start_key``; with
    ``keep``, only the items (DynamoDB JSON) it keeps count (a filter a Query cannot express).

    Asks for one item more than it needs, so the last page usually knows it is the last; at most
    :data:`MAX_QUERY_ROUND_TRIPS` Queries. Skipping serves seed 002's ``page`` parameter; a cursor continues
    at constant cost instead.
    """
    kept: list[dict[str, Any]] = []
    skipped = 0
    last_evaluated = start_key
    index = query.get("IndexName")
    key_names = ("PK", "SK", f"{index}PK", f"{index}SK") if index else ("PK", "SK")
    for _ in range(MAX_QUERY_ROUND_TRIPS):
        kwargs = dict(query, Limit=min(1000, (skip - skipped) + (take - len(kept)) + 1))
        if last_evaluated:
            kwargs["ExclusiveStartKey"] = last_evaluated
        response = call(client, "query", **kwargs)
        for raw in response.get("Items", []):
            if keep is not None and not keep(raw):
                continue
            if skipped < skip:
                skipped += 1
            elif len(kept) < take:
                kept.append(raw)
            else:  # the extra item: there is a next page, which starts after the last kept item
                return Page(kept, {k: kept[-1][k] for k in key_names if k in kept[-1]})
        last_evaluated = response.get("LastEvaluatedKey")
        if not last_evaluated or len(kept) == take:
            return Page(kept, last_evaluated if len(kept) == take else None)
    return Page(kept, last_evaluated)


def query_all(client: Any, query: dict[str, Any]) -> list[dict[str, Any]]:
    """Every item ``query`` matches, as plain values (one Query per 1 MB page)."""
    kwargs, found = dict(query), list[dict[str, Any]]()
    while True:
        response = call(client, "query", **kwargs)
        found.extend(deserialize(raw) for raw in response.get("Items", []))
        if "LastEvaluatedKey" not in response:
            return found
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def query_keys_where(client: Any, query: dict[str, Any], *, limit: int) -> Iterator[dict[str, Any]]:
    """Yield the items ``query`` matches (DynamoDB JSON), at most ``limit``, reading pages of at most 1,000."""
    kwargs, left = dict(query), limit
    while left > 0:
        response = call(client, "query", **kwargs, Limit=min(left, 1000))
        found = response.get("Items", [])
        yield from found
        left -= len(found)
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def query_keys(client: Any, table: str, partition_key: str, *also: str) -> Iterator[dict[str, Any]]:
    """Yield the primary keys (DynamoDB JSON) of every item under ``PK = partition_key``, with the attributes
    named in ``also`` (one consistent Query per 1 MB page)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": partition_key}},
        "ProjectionExpression": ", ".join(("PK", "SK", *also)),
        "ConsistentRead": True,
    }
    while True:
        response = call(client, "query", **kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def batch_get(
    client: Any,
    table: str,
    keys: Sequence[dict[str, Any]],
    *,
    projection: str | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[dict[str, Any]]:
    """Read the items with these primary keys (consistent BatchGetItem, 100 keys a call, unprocessed keys
    retried with backoff). Returns the items found as plain values, in no particular order.

    Raises :class:`ServiceUnavailable` when DynamoDB keeps returning unprocessed keys.
    """
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), MAX_BATCH_GET_KEYS):
        request: dict[str, Any] = {"Keys": list(keys[start : start + MAX_BATCH_GET_KEYS]), "ConsistentRead": True}
        if projection:
            request["ProjectionExpression"] = projection
        pending: dict[str, Any] = {table: request}
        for attempt in range(MAX_UNPROCESSED_ATTEMPTS):
            response = call(client, "batch_get_item", RequestItems=pending)
            found.extend(deserialize(item) for item in response.get("Responses", {}).get(table, []))
            pending = response.get("UnprocessedKeys") or {}
            if not pending:
                break
            sleep(min(1.0, 0.05 * 2**attempt))
        else:
            raise ServiceUnavailable()
    return found


def delete_keys(
    client: Any, table: str, keys: Iterable[dict[str, Any]], *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Delete the items with these primary keys in BatchWriteItem calls of 25, retrying unprocessed items with
    backoff. Idempotent: deleting what is gone is a no-op. Returns the number of keys.

    Raises :class:`ServiceUnavailable` when DynamoDB keeps returning unprocessed items.
    """
    deleted = 0
    batch: list[dict[str, Any]] = []
    for key in keys:
        batch.append({"DeleteRequest": {"Key": key}})
        if len(batch) == MAX_BATCH_WRITE_REQUESTS:
            deleted += _batch_write(client, table, batch, sleep)
            batch = []
    if batch:
        deleted += _batch_write(client, table, batch, sleep)
    return deleted


def _batch_write(client: Any, table: str, requests: list[dict[str, Any]], sleep: Callable[[float], None]) -> int:
    pending: dict[str, Any] = {table: requests}
    for attempt in range(MAX_UNPROCESSED_ATTEMPTS):
        pending = call(client, "batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return len(requests)
        sleep(min(1.0, 0.05 * 2**attempt))
    raise ServiceUnavailable()


@dataclass(frozen=True)
class Table:
    """The service's table and the client that reaches it: the requests of the operation families name the
    table here. Items come back as plain values (raw DynamoDB JSON where a cursor needs the keys: pages)."""

    client: Any
    name: str

    def get(self, key: dict[str, Any], *, consistent: bool = False) -> dict[str, Any] | None:
        """The item at ``key`` (GetItem, consistent when asked), or ``None``."""
        extra = {"ConsistentRead": True} if consistent else {}
        response = call(self.client, "get_item", TableName=self.name, Key=key, **extra)
        return deserialize(response["Item"]) if response.get("Item") else None

    def query(self, request: dict[str, Any], **extra: Any) -> dict[str, Any]:
        """One page of the Query ``request`` (with ``extra`` parameters: ``Limit``, ``ExclusiveStartKey``): the raw
        response."""
        return call(self.client, "query", **{"TableName": self.name, **request, **extra})

    def query_all(self, request: dict[str, Any]) -> list[dict[str, Any]]:
        """Every item the Query ``request`` matches, as plain values (:func:`query_all`)."""
        return query_all(self.client, {"TableName": self.name, **request})

    def query_page(self, request: dict[str, Any], **paging: Any) -> Page:
        """A listing page of the Query ``request`` (:func:`query_page`: ``skip``, ``take``, ``start_key``, ``keep``)."""
        return query_page(self.client, {"TableName": self.name, **request}, **paging)

    def batch_get(self, keys: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
        """The items at ``keys`` (consistent BatchGetItem, :func:`batch_get`), plain values, in no order."""
        return batch_get(self.client, self.name, keys)

    def update(self, update: dict[str, Any]) -> dict[str, Any]:
        """One conditional UpdateItem (:func:`conditional`); raises :class:`ConditionFailed` with the old item."""
        return conditional(self.client, "update_item", **{"TableName": self.name, **update})

    def answers(self, key: dict[str, Any]) -> bool:
        """True when the table answers a GetItem of ``key`` (:func:`answers`); never raises."""
        return answers(self.client, self.name, key)
