"""The single-table DynamoDB repository: key schema, item mapping, conditional writes, typed errors.

Key design (one table, generic key names; every entity owns its key format):

=====================  ==============================  ======================================  ==================
entity                 PK                              SK                                      GSIs
=====================  ==============================  ======================================  ==================
session                ``SESSION#<session_id>``        ``SESSION``                             GSI1, GSI2 (sparse)
message                ``SESSION#<session_id>``        ``MSG#<created_at>#<message_id>``       -
memory record          ``SESSION#<session_id>``        ``MEM#<memory_type>#<created_at>#<id>``  -
per-user counts        ``USER#<user_id>``              ``COUNTS``                              -
service statistics     ``STATS``                       ``GLOBAL``                              -
stream applied mark    ``STREAM#SESSION#<id>``         ``APPLIED``                             -
idempotency record     ``IDEMPOTENCY#<user_id>``       ``<function>#<hash>`` (Powertools)      -
=====================  ==============================  ======================================  ==================

GSI1 (``GSI1PK = USER#<user_id>``, ``GSI1SK = last_activity``) lists a user's sessions by recent activity;
GSI2 has the same keys but only while the session is ``active`` (a sparse index), so ``active_only`` is a
Query, not a filter over everything.

Access patterns:

=====================================  ==============================================================
pattern                                request
=====================================  ==============================================================
create / ensure a session              PutItem, ``attribute_not_exists(PK)``, ALL_OLD on failure
get a session, its summary             GetItem (consistent)
update / end a session                 UpdateItem, condition owner + not expired + status (+ version)
list a user's sessions                 Query GSI1 (or GSI2 for active only) + GetItem of user counts
append messages                        TransactWriteItems: Put messages + Update session counters
list messages (oldest first)           GetItem session + Query ``SK begins_with MSG#``; next pages: Query
add / list memory records              TransactWriteItems / GetItem + Query ``begins_with MEM#[type#]``
statistics                             GetItem ``STATS``
delete an expired session's content    Query the partition + BatchWriteItem deletes (stream function)
=====================================  ==============================================================

Times are ISO 8601 UTC strings with microseconds and ``Z`` (so they sort as text); ``expires_at`` is epoch
seconds (the table's TTL attribute); money is a DynamoDB number (exact decimal). ``metadata`` and
``conversation_data`` are stored as JSON text, so any JSON value round-trips exactly.
"""

from __future__ import annotations

import json
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from botocore.exceptions import BotoCoreError, ClientError

from session_service.cursor import CursorCodec
from session_service.errors import (
    InvalidStatusTransition,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    SessionIdTaken,
    SessionNotActive,
    SessionNotFound,
    SessionReadOnly,
    StoreUnavailable,
)
from session_service.models import (
    Memory,
    MemoryCreate,
    MemoryList,
    MemoryType,
    Message,
    MessageCreate,
    MessageList,
    Session,
    SessionCreate,
    SessionList,
    SessionStatus,
    SessionUpdate,
    Stats,
    dump_json,
    statuses_allowed_before,
)

SESSION_SK = "SESSION"
MESSAGE_PREFIX = "MSG#"
MEMORY_PREFIX = "MEM#"
COUNTS_SK = "COUNTS"
STATS_KEY = {"PK": {"S": "STATS"}, "SK": {"S": "GLOBAL"}}
GSI_ALL = "GSI1"
GSI_ACTIVE = "GSI2"

MAX_TRANSACTION_ATTEMPTS = 6
"""Attempts for a transaction cancelled by ``TransactionConflict`` (concurrent writers of one session)."""
MAX_TRANSACTION_BYTES = 4_000_000
"""Aggregate item size one TransactWriteItems may carry (4 MB, an AWS limit; counted in decimal MB to be safe)."""
MAX_QUERY_ROUND_TRIPS = 50
"""Bound on the Queries one listing request may make when skipping to ``page`` N without a cursor."""

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


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    """``2025-10-03T09:53:09.821305Z``: fixed width, so ISO strings sort like the times they name."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


def session_pk(session_id: str) -> str:
    """Partition key of a session and of everything it holds."""
    return f"SESSION#{session_id}"


def session_key(session_id: str) -> dict[str, Any]:
    """Primary key (DynamoDB JSON) of a session item."""
    return {"PK": {"S": session_pk(session_id)}, "SK": {"S": SESSION_SK}}


def user_pk(user_id: str) -> str:
    """Partition key of a user's counts and the GSI1/GSI2 partition of the user's sessions."""
    return f"USER#{user_id}"


def user_counts_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's counts item (``sessions``, ``active_sessions``), kept by the stream."""
    return {"PK": {"S": user_pk(user_id)}, "SK": {"S": COUNTS_SK}}


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


def item_to_session(item: dict[str, Any]) -> Session:
    """Map a session item (plain values) to the :class:`Session` model."""
    return Session(
        session_id=item["session_id"],
        user_id=item["user_id"],
        title=item.get("title", ""),
        status=SessionStatus(item["status"]),
        conversation_data=json.loads(item.get("conversation_data", "{}")),
        metadata=json.loads(item.get("metadata", "{}")),
        is_active=item["status"] == SessionStatus.ACTIVE,
        message_count=int(item.get("message_count", 0)),
        total_tokens=int(item.get("total_tokens", 0)),
        total_cost=Decimal(item.get("total_cost", 0)),
        session_summary=item.get("session_summary", ""),
        created_at=parse_iso(item["created_at"]),
        updated_at=parse_iso(item["updated_at"]),
        last_activity=parse_iso(item["last_activity"]),
        expires_at=datetime.fromtimestamp(int(item["expires_at"]), UTC),
        version=int(item.get("version", 1)),
        memory_count=int(item.get("memory_count", 0)),
    )


def _item_to_message(item: dict[str, Any]) -> Message:
    return Message(
        message_id=item["message_id"],
        session_id=item["session_id"],
        user_id=item["user_id"],
        role=item["role"],
        content=item["content"],
        message_type=item["message_type"],
        metadata=json.loads(item.get("metadata", "{}")),
        tokens_used=int(item["tokens_used"]),
        cost_usd=Decimal(item["cost_usd"]),
        created_at=parse_iso(item["created_at"]),
    )


def _item_to_memory(item: dict[str, Any]) -> Memory:
    return Memory(
        memory_id=item["memory_id"],
        session_id=item["session_id"],
        user_id=item["user_id"],
        memory_type=MemoryType(item["memory_type"]),
        content=item["content"],
        metadata=json.loads(item.get("metadata", "{}")),
        created_at=parse_iso(item["created_at"]),
    )


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def translate_client_error(exc: Exception) -> Exception:
    """Map a botocore failure that no condition explains to a domain error.

    Throttling and DynamoDB service errors become :class:`ServiceUnavailable` (503 with ``Retry-After``);
    a table that is missing or unreachable becomes :class:`StoreUnavailable` (503). Anything else is
    returned unchanged (it is a bug of ours and surfaces as a logged 500).
    """
    if isinstance(exc, ClientError):
        code = _error_code(exc)
        if code in _THROTTLING:
            return ServiceUnavailable()
        if code in _UNREACHABLE:
            return StoreUnavailable()
    elif isinstance(exc, BotoCoreError):  # connection refused, timeouts, missing credentials
        return StoreUnavailable()
    return exc


def call(client: Any, operation: str, **kwargs: Any) -> dict[str, Any]:
    """``client.<operation>(**kwargs)`` with failures no condition explains mapped by
    :func:`translate_client_error`."""
    try:
        response: dict[str, Any] = getattr(client, operation)(**kwargs)
    except (ClientError, BotoCoreError) as exc:
        translated = translate_client_error(exc)
        if translated is exc:
            raise
        raise translated from exc
    return response


def transact_write(
    client: Any,
    items: list[dict[str, Any]],
    *,
    explain: Callable[[list[dict[str, Any]]], Exception],
    sleep: Callable[[float], None] | None = None,
) -> None:
    """Run TransactWriteItems, retrying a cancellation by ``TransactionConflict`` or throttling with jittered
    backoff, at most :data:`MAX_TRANSACTION_ATTEMPTS` times.

    ``explain`` turns the cancellation reasons of a failed condition into the error to raise. Each attempt
    carries a ``ClientRequestToken``, so botocore's own retry of a request whose answer was lost is applied
    once; a cancelled attempt applied nothing, so the next one draws a new token. Raises what ``explain``
    returns, :class:`ServiceUnavailable` when the conflicts or throttling do not stop, and
    :class:`StoreUnavailable` when DynamoDB cannot be reached.
    """
    token = str(uuid.uuid4())
    for attempt in range(MAX_TRANSACTION_ATTEMPTS):
        try:
            client.transact_write_items(TransactItems=items, ClientRequestToken=token)
            return
        except ClientError as exc:
            if _error_code(exc) != "TransactionCanceledException":
                translated = translate_client_error(exc)
                if translated is exc:
                    raise
                raise translated from exc
            reasons = exc.response.get("CancellationReasons", [])
            codes = {r.get("Code") for r in reasons}
            if "ConditionalCheckFailed" in codes:
                raise explain(reasons) from exc
            if codes & {"TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"}:
                (sleep or time.sleep)(min(1.0, 0.02 * 2**attempt) * random.random())
                token = str(uuid.uuid4())
                continue
            raise ServiceUnavailable() from exc
        except BotoCoreError as exc:
            raise StoreUnavailable() from exc
    raise ServiceUnavailable()


def partition_keys(client: Any, table: str, session_id: str) -> Iterator[dict[str, Any]]:
    """Yield the primary keys (DynamoDB JSON) of every item under a session's partition: its messages,
    memory records and the session item itself (one consistent, keys-only Query per 1 MB page)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "KeyConditionExpression": "PK = :pk",
        "ExpressionAttributeValues": {":pk": {"S": session_pk(session_id)}},
        "ProjectionExpression": "PK, SK",
        "ConsistentRead": True,
    }
    while True:
        response = call(client, "query", **kwargs)
        yield from response.get("Items", [])
        if "LastEvaluatedKey" not in response:
            return
        kwargs["ExclusiveStartKey"] = response["LastEvaluatedKey"]


def delete_keys(
    client: Any, table: str, keys: Iterable[dict[str, Any]], *, sleep: Callable[[float], None] = time.sleep
) -> int:
    """Delete the items with these primary keys in BatchWriteItem calls of 25 (an AWS limit), retrying
    unprocessed items with backoff. Idempotent: deleting what is gone is a no-op. Returns the number of keys.

    Raises :class:`ServiceUnavailable` when DynamoDB keeps returning unprocessed items.
    """
    deleted = 0
    batch: list[dict[str, Any]] = []
    for key in keys:
        batch.append({"DeleteRequest": {"Key": key}})
        if len(batch) == 25:
            deleted += _batch_delete(client, table, batch, sleep)
            batch = []
    if batch:
        deleted += _batch_delete(client, table, batch, sleep)
    return deleted


def _batch_delete(client: Any, table: str, requests: list[dict[str, Any]], sleep: Callable[[float], None]) -> int:
    pending: dict[str, Any] = {table: requests}
    for attempt in range(8):
        pending = call(client, "batch_write_item", RequestItems=pending).get("UnprocessedItems") or {}
        if not pending:
            return len(requests)
        sleep(min(1.0, 0.05 * 2**attempt))
    raise ServiceUnavailable()


class _Page:
    """The items of one listing page and whether more follow."""

    def __init__(self, items: list[dict[str, Any]], last_evaluated: dict[str, Any] | None) -> None:
        self.items = items
        self.last_evaluated = last_evaluated


class SessionRepository:
    """Sessions, messages and memory records in one DynamoDB table (see the module docstring for keys).

    ``client`` is a low-level boto3 DynamoDB client; ``ttl_seconds`` the default idle lifetime (seconds);
    ``cursors`` signs ``next_token``; ``clock`` and ``new_id`` are injectable for tests.
    Every method raises :class:`ServiceUnavailable` when DynamoDB throttles and :class:`StoreUnavailable`
    when the table cannot be reached.
    """

    def __init__(
        self,
        client: Any,
        table_name: str,
        *,
        ttl_seconds: int,
        cursors: CursorCodec,
        clock: Callable[[], datetime] = utcnow,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        self._client = client
        self._table = table_name
        self._ttl_seconds = ttl_seconds
        self._cursors = cursors
        self._clock = clock
        self._new_id = new_id

    # -- low-level calls ------------------------------------------------------------------------------

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        return call(self._client, operation, **kwargs)

    def _transact(self, items: list[dict[str, Any]], explain: Callable[[list[dict[str, Any]]], Exception]) -> None:
        transact_write(self._client, items, explain=explain)

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        """A transaction's Put of an item that must not exist yet (ids are fresh UUIDs)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": serialize(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _get(self, key: dict[str, Any]) -> dict[str, Any] | None:
        response = self._call("get_item", TableName=self._table, Key=key, ConsistentRead=True)
        item = response.get("Item")
        return deserialize(item) if item else None

    def _is_live(self, item: dict[str, Any] | None, caller: str) -> bool:
        """True when ``item`` is a session the caller owns that has not expired (TTL runs days late)."""
        return (
            item is not None
            and item.get("user_id") == caller
            and int(item.get("expires_at", 0)) > int(self._clock().timestamp())
        )

    def _load_session(self, session_id: str, caller: str) -> dict[str, Any]:
        item = self._get(session_key(session_id))
        if item is None or not self._is_live(item, caller):
            raise SessionNotFound()
        return item

    def _query_page(self, query: dict[str, Any], *, skip: int, take: int, start_key: dict[str, Any] | None) -> _Page:
        """Collect ``take`` items after skipping ``skip``, starting at ``start_key``.

        Asks for one item more than it needs, so the last page usually knows it is the last. Skipping is
        for seed 002's ``page`` parameter; ``next_token`` continues at constant cost instead.
        """
        kept: list[dict[str, Any]] = []
        skipped = 0
        last_evaluated = start_key
        for _ in range(MAX_QUERY_ROUND_TRIPS):
            kwargs = dict(query, Limit=min(1000, (skip - skipped) + (take - len(kept)) + 1))
            if last_evaluated:
                kwargs["ExclusiveStartKey"] = last_evaluated
            response = self._call("query", **kwargs)
            for raw in response.get("Items", []):
                if skipped < skip:
                    skipped += 1
                elif len(kept) < take:
                    kept.append(raw)
                else:  # the extra item: there is a next page, which starts after the last kept item
                    return _Page(kept, {k: kept[-1][k] for k in self._key_names(query)})
            last_evaluated = response.get("LastEvaluatedKey")
            if not last_evaluated or len(kept) == take:
                return _Page(kept, last_evaluated if len(kept) == take else None)
        return _Page(kept, last_evaluated)

    @staticmethod
    def _key_names(query: dict[str, Any]) -> tuple[str, ...]:
        index = query.get("IndexName")
        return ("PK", "SK", f"{index}PK", f"{index}SK") if index else ("PK", "SK")

    # -- sessions -------------------------------------------------------------------------------------

    def create_session(self, caller: str, request: SessionCreate) -> tuple[Session, bool]:
        """Create a session for ``caller``; return ``(session, created)``.

        A ``session_id`` the caller already owns returns the existing session with ``created=False``
        (seed 004's "ensure the session exists"). Raises :class:`SessionIdTaken` when another user owns the
        id, or when it names an expired session whose content is still being removed.
        """
        session, item = self._new_session_item(caller, request, self._clock())
        try:
            self._client.put_item(
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK)",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise translate_client_error(exc) from exc
            old = deserialize(exc.response["Item"]) if exc.response.get("Item") else None
            if self._is_live(old, caller):
                assert old is not None
                return item_to_session(old), False
            raise SessionIdTaken() from exc
        except BotoCoreError as exc:
            raise StoreUnavailable() from exc
        return session, True

    def batch_create_sessions(self, caller: str, requests: Sequence[SessionCreate]) -> list[Session]:
        """Create up to 100 sessions all or nothing (seed 003's ``batch_save_sessions``).

        Raises :class:`SessionIdTaken` if any named id exists (then none is created).
        """
        now = self._clock()
        sessions = []
        actions = []
        for request in requests:
            session, item = self._new_session_item(caller, request, now)
            sessions.append(session)
            actions.append(self._put_new(item))
        self._transact(actions, lambda reasons: SessionIdTaken())
        return sessions

    def _new_session_item(self, caller: str, request: SessionCreate, now: datetime) -> tuple[Session, dict[str, Any]]:
        session_id = request.session_id or self._new_id()
        ttl = request.ttl_seconds or self._ttl_seconds
        item = {
            "PK": session_pk(session_id),
            "SK": SESSION_SK,
            "entity": "session",
            "session_id": session_id,
            "user_id": caller,
            "title": request.title,
            "status": SessionStatus.ACTIVE.value,
            "metadata": dump_json(request.metadata),
            "conversation_data": dump_json(request.conversation_data),
            "message_count": 0,
            "memory_count": 0,
            "total_tokens": 0,
            "total_cost": Decimal(0),
            "session_summary": "",
            "created_at": iso(now),
            "updated_at": iso(now),
            "last_activity": iso(now),
            "ttl_seconds": ttl,
            "expires_at": int(now.timestamp()) + ttl,
            "version": 1,
            "GSI1PK": user_pk(caller),
            "GSI1SK": iso(now),
            "GSI2PK": user_pk(caller),
            "GSI2SK": iso(now),
        }
        return item_to_session(item), item

    def get_session(self, session_id: str, caller: str) -> Session:
        """Return the caller's live session. Raises :class:`SessionNotFound` (missing, foreign, expired)."""
        return item_to_session(self._load_session(session_id, caller))

    def update_session(
        self, session_id: str, caller: str, request: SessionUpdate, *, if_match: int | None = None
    ) -> Session:
        """Apply a PUT in one conditional UpdateItem and return the new session.

        ``metadata`` and ``conversation_data`` are replaced whole; ``status`` follows
        :data:`~session_service.models.ALLOWED_TRANSITIONS` (setting the current status is a no-op); an
        ``ended`` session is read-only. ``if_match`` is the version the caller last saw (its ETag).
        Raises :class:`SessionNotFound`, :class:`InvalidStatusTransition`, :class:`SessionReadOnly`,
        :class:`PreconditionFailed`.
        """
        changes = request.model_dump(exclude_unset=True, exclude_none=True)
        target = SessionStatus(changes.pop("status")) if "status" in changes else None
        allowed = set(statuses_allowed_before(target)) if target else set(SessionStatus)
        if changes:  # title, metadata or conversation_data: not on a read-only session
            allowed.discard(SessionStatus.ENDED)
        values: dict[str, Any] = {}
        sets = []
        for field in ("title", "metadata", "conversation_data"):
            if field in changes:
                value = changes[field]
                values[f":{field}"] = value if field == "title" else dump_json(value)
                sets.append(f"{field} = :{field}")
        removes = []
        if target is not None:
            values[":target"] = target.value
            sets.append("#status = :target")
            if target is not SessionStatus.ACTIVE:
                removes = ["GSI2PK", "GSI2SK"]

        def explain(old: dict[str, Any] | None) -> Exception:
            if not self._is_live(old, caller):
                return SessionNotFound()
            assert old is not None
            if if_match is not None and int(old["version"]) != if_match:
                return PreconditionFailed()
            if target is not None and old["status"] not in statuses_allowed_before(target):
                return InvalidStatusTransition(old["status"], target.value)
            return SessionReadOnly()

        return self._conditional_update(session_id, caller, sets, removes, values, allowed, if_match, explain)

    def end_session(self, session_id: str, caller: str, *, if_match: int | None = None) -> Session:
        """DELETE: set status ``ended`` (read-only from then on). Ending an ended session is a no-op.

        Raises :class:`SessionNotFound`, :class:`InvalidStatusTransition` (from completed or archived),
        :class:`PreconditionFailed`.
        """
        return self.update_session(session_id, caller, SessionUpdate(status=SessionStatus.ENDED), if_match=if_match)

    def _conditional_update(
        self,
        session_id: str,
        caller: str,
        sets: list[str],
        removes: list[str],
        values: dict[str, Any],
        allowed: set[SessionStatus],
        if_match: int | None,
        explain: Callable[[dict[str, Any] | None], Exception],
    ) -> Session:
        now = self._clock()
        values.update({":now": iso(now), ":one": 1, ":caller": caller, ":epoch": int(now.timestamp())})
        statuses = sorted(s.value for s in allowed)
        for i, status in enumerate(statuses):
            values[f":s{i}"] = status
        condition = (
            "attribute_exists(PK) AND user_id = :caller AND expires_at > :epoch"
            f" AND #status IN ({', '.join(f':s{i}' for i in range(len(statuses)))})"
        )
        if if_match is not None:
            values[":expected"] = if_match
            condition += " AND version = :expected"
        expression = "SET " + ", ".join(["updated_at = :now", "version = version + :one", *sets])
        if removes:
            expression += " REMOVE " + ", ".join(removes)
        try:
            response = self._client.update_item(
                TableName=self._table,
                Key=session_key(session_id),
                UpdateExpression=expression,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
                ReturnValuesOnConditionCheckFailure="ALL_OLD",
            )
        except ClientError as exc:
            if _error_code(exc) != "ConditionalCheckFailedException":
                raise translate_client_error(exc) from exc
            old = exc.response.get("Item")
            raise explain(deserialize(old) if old else None) from exc
        except BotoCoreError as exc:
            raise StoreUnavailable() from exc
        return item_to_session(deserialize(response["Attributes"]))

    def list_user_sessions(
        self,
        user_id: str,
        *,
        active_only: bool = False,
        page: int = 1,
        page_size: int = 50,
        next_token: str | None = None,
    ) -> SessionList:
        """A page of the user's live sessions, most recent activity first (seed 003's filtered listing).

        One Query on GSI1 (all) or GSI2 (active only), plus one GetItem of the user's counts for
        ``total``. Raises :class:`~session_service.errors.InvalidCursor` for a foreign or altered cursor.
        """
        scope = f"sessions|{user_id}|{int(active_only)}|{page_size}"
        start_key, skip = None, (page - 1) * page_size
        if next_token:
            position = self._cursors.decode(scope, next_token)
            start_key, skip, page = position["k"], 0, int(position["p"])
        index = GSI_ACTIVE if active_only else GSI_ALL
        query = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :pk",
            "FilterExpression": "expires_at > :epoch",
            "ExpressionAttributeValues": serialize({":pk": user_pk(user_id), ":epoch": int(self._clock().timestamp())}),
            "ScanIndexForward": False,
        }
        result = self._query_page(query, skip=skip, take=page_size, start_key=start_key)
        counts = self._call("get_item", TableName=self._table, Key=user_counts_key(user_id)).get("Item")
        counts = deserialize(counts) if counts else {}
        total = int(counts.get("active_sessions" if active_only else "sessions", 0))
        return SessionList(
            sessions=[item_to_session(deserialize(raw)) for raw in result.items],
            total=max(total, 0),
            page=page,
            page_size=page_size,
            next_token=self._cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1})
            if result.last_evaluated
            else None,
        )

    # -- messages -------------------------------------------------------------------------------------

    def append_messages(self, session_id: str, caller: str, requests: Sequence[MessageCreate]) -> list[Message]:
        """Store messages and add their counts to the session in one transaction (all or nothing).

        The session's ``message_count``, ``total_tokens``, ``total_cost``, ``last_activity`` and
        ``expires_at`` move with the messages: a reader never sees one without the other, and concurrent
        appends lose nothing (``ADD`` is atomic; conflicting transactions are retried).
        Raises :class:`SessionNotFound`, :class:`SessionNotActive`, or :class:`PayloadTooLarge` (before any
        write) when the messages exceed what one transaction carries (4 MB, an AWS limit).
        """
        now = self._clock()
        messages: list[Message] = []
        actions: list[dict[str, Any]] = []
        payload_bytes = 0
        for offset, request in enumerate(requests):
            created = now + timedelta(microseconds=offset)  # keeps a batch in the order it was given
            message_id = self._new_id()
            item = {
                "PK": session_pk(session_id),
                "SK": f"{MESSAGE_PREFIX}{iso(created)}#{message_id}",
                "entity": "message",
                "message_id": message_id,
                "session_id": session_id,
                "user_id": caller,
                "role": request.role.value,
                "content": request.content,
                "message_type": request.message_type.value,
                "metadata": dump_json(request.metadata),
                "tokens_used": request.tokens_used,
                "cost_usd": request.cost_usd,
                "created_at": iso(created),
            }
            payload_bytes += item_size(item)
            messages.append(_item_to_message(item))
            actions.append(self._put_new(item))
        increments = {
            "message_count": len(requests),
            "total_tokens": sum(r.tokens_used for r in requests),
            "total_cost": sum((r.cost_usd for r in requests), Decimal(0)),
        }
        # DynamoDB refuses a larger transaction with a ValidationException (a 500); 1 KiB is left for the
        # session's update.
        if payload_bytes > MAX_TRANSACTION_BYTES - 1024:
            raise PayloadTooLarge()
        actions.append(self._activity_update(session_id, caller, now, increments))
        self._transact(actions, self._explain_activity_failure(caller))
        return messages

    def _activity_update(
        self, session_id: str, caller: str, now: datetime, increments: dict[str, Any]
    ) -> dict[str, Any]:
        """The Update of a transaction that records activity on an active, live, owned session."""
        adds = ", ".join(f"{name} :{name}" for name in increments)
        values = {f":{name}": value for name, value in increments.items()}
        values.update(
            {":now": iso(now), ":epoch": int(now.timestamp()), ":caller": caller, ":active": "active", ":one": 1}
        )
        return {
            "Update": {
                "TableName": self._table,
                "Key": session_key(session_id),
                "UpdateExpression": (
                    "SET last_activity = :now, updated_at = :now, GSI1SK = :now, GSI2SK = :now,"
                    " expires_at = ttl_seconds + :epoch"
                    f" ADD version :one, {adds}"
                ),
                "ConditionExpression": (
                    "attribute_exists(PK) AND user_id = :caller AND #status = :active AND expires_at > :epoch"
                ),
                "ExpressionAttributeNames": {"#status": "status"},
                "ExpressionAttributeValues": serialize(values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _explain_activity_failure(self, caller: str) -> Callable[[list[dict[str, Any]]], Exception]:
        def explain(reasons: list[dict[str, Any]]) -> Exception:
            old = reasons[-1].get("Item") if reasons else None
            session = deserialize(old) if old else None
            if not self._is_live(session, caller):
                return SessionNotFound()
            if reasons[-1].get("Code") == "ConditionalCheckFailed":
                return SessionNotActive()
            return ServiceUnavailable()  # an id collision on a new item: retrying draws new ids

        return explain

    def list_messages(
        self,
        session_id: str,
        caller: str,
        *,
        page: int = 1,
        page_size: int = 100,
        next_token: str | None = None,
    ) -> MessageList:
        """A page of the session's messages, oldest first.

        The first page reads the session (owner, expiry, ``total``) and Queries the messages: two round
        trips. A ``next_token`` carries that check, signed, so later pages are one Query until the session
        could have expired. Raises :class:`SessionNotFound`, :class:`~session_service.errors.InvalidCursor`.
        """
        scope = f"messages|{session_id}|{caller}|{page_size}"
        now_epoch = int(self._clock().timestamp())
        start_key, skip = None, (page - 1) * page_size
        total, expires_at = 0, 0
        if next_token:
            position = self._cursors.decode(scope, next_token)
            start_key, skip, page = position["k"], 0, int(position["p"])
            total, expires_at = int(position["t"]), int(position["e"])
        if expires_at <= now_epoch:
            session = self._load_session(session_id, caller)
            total, expires_at = int(session["message_count"]), int(session["expires_at"])
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": serialize({":pk": session_pk(session_id), ":prefix": MESSAGE_PREFIX}),
            "ConsistentRead": True,
        }
        result = self._query_page(query, skip=skip, take=page_size, start_key=start_key)
        cursor = None
        if result.last_evaluated:
            position = {"k": result.last_evaluated, "p": page + 1, "t": total, "e": expires_at}
            cursor = self._cursors.encode(scope, position)
        return MessageList(
            messages=[_item_to_message(deserialize(raw)) for raw in result.items],
            total=total,
            page=page,
            page_size=page_size,
            next_token=cursor,
        )

    # -- memory records -------------------------------------------------------------------------------

    def add_memory(self, session_id: str, caller: str, request: MemoryCreate) -> Memory:
        """Store a memory record and count it on the session (``has_memory``) in one transaction.

        Raises :class:`SessionNotFound` or :class:`SessionNotActive`.
        """
        now = self._clock()
        memory_id = self._new_id()
        item = {
            "PK": session_pk(session_id),
            "SK": f"{MEMORY_PREFIX}{request.memory_type.value}#{iso(now)}#{memory_id}",
            "entity": "memory",
            "memory_id": memory_id,
            "session_id": session_id,
            "user_id": caller,
            "memory_type": request.memory_type.value,
            "content": request.content,
            "metadata": dump_json(request.metadata),
            "created_at": iso(now),
        }
        actions = [
            self._put_new(item),
            self._activity_update(
                session_id, caller, now, {"memory_count": 1, f"memory_count_{request.memory_type.value}": 1}
            ),
        ]
        self._transact(actions, self._explain_activity_failure(caller))
        return _item_to_memory(item)

    def list_memories(
        self,
        session_id: str,
        caller: str,
        *,
        memory_type: MemoryType | None = None,
        page_size: int = 100,
        next_token: str | None = None,
    ) -> MemoryList:
        """The session's memory records, grouped by type then oldest first; one type with ``memory_type``.

        The type filter is a key condition (``begins_with(SK, MEM#<type>#)``), not a filter. ``total`` counts
        every matching record (the session keeps a count per type), not just this page.
        Raises :class:`SessionNotFound`, :class:`~session_service.errors.InvalidCursor`.
        """
        session = self._load_session(session_id, caller)
        prefix = f"{MEMORY_PREFIX}{memory_type.value}#" if memory_type else MEMORY_PREFIX
        scope = f"memory|{session_id}|{caller}|{prefix}|{page_size}"
        start_key = self._cursors.decode(scope, next_token)["k"] if next_token else None
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": serialize({":pk": session_pk(session_id), ":prefix": prefix}),
            "ConsistentRead": True,
        }
        result = self._query_page(query, skip=0, take=page_size, start_key=start_key)
        memories = [_item_to_memory(deserialize(raw)) for raw in result.items]
        return MemoryList(
            memories=memories,
            total=int(session.get(f"memory_count_{memory_type.value}" if memory_type else "memory_count", 0)),
            next_token=self._cursors.encode(scope, {"k": result.last_evaluated}) if result.last_evaluated else None,
        )

    # -- statistics and health ------------------------------------------------------------------------

    def get_stats(self) -> Stats:
        """Service-wide statistics as the stream function keeps them (one GetItem)."""
        item = self._call("get_item", TableName=self._table, Key=STATS_KEY).get("Item")
        values = deserialize(item) if item else {}
        sessions = int(values.get("total_sessions", 0))
        messages = int(values.get("total_messages", 0))
        return Stats(
            total_sessions=sessions,
            active_sessions=int(values.get("active_sessions", 0)),
            total_messages=messages,
            total_tokens=int(values.get("total_tokens", 0)),
            total_cost=Decimal(values.get("total_cost", 0)),
            average_messages_per_session=round(messages / sessions, 1) if sessions > 0 else 0.0,
        )

    def ping(self) -> bool:
        """True when the table answers a read (used by ``GET /health/detailed``)."""
        try:
            self._call("get_item", TableName=self._table, Key=STATS_KEY)
        except (ServiceUnavailable, StoreUnavailable, ClientError, BotoCoreError):
            return False
        return True

    # -- bulk removal (seed 003's batch_delete_sessions) ---------------------------------------------

    def iter_partition_keys(self, session_id: str) -> Iterator[dict[str, Any]]:
        """Yield the primary keys of every item under a session's partition (messages, memory, itself)."""
        return partition_keys(self._client, self._table, session_id)

    def delete_session_contents(self, session_ids: Sequence[str]) -> int:
        """Delete every item of the given sessions (seed 003's ``batch_delete_sessions``); idempotent.

        Returns the number of items deleted. The stream function deletes an expired session's content
        with the same :func:`partition_keys` and :func:`delete_keys`.
        """
        keys = (key for session_id in session_ids for key in partition_keys(self._client, self._table, session_id))
        return delete_keys(self._client, self._table, keys)
