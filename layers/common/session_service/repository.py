"""The repository: the service's operations on the single table (keys and items: :mod:`session_service.items`;
DynamoDB calls and their errors: :mod:`session_service.dynamo`).

Each operation is one conditional request or one transaction, so a failed request writes nothing; a failed
condition becomes a domain error (:mod:`session_service.errors`) from the item DynamoDB returns with the
failure, without a second read.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service import dynamo, items
from session_service.cursor import CursorCodec
from session_service.dynamo import ConditionFailed, TransactionCanceled, deserialize, serialize
from session_service.errors import (
    InvalidStatusTransition,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    SessionIdTaken,
    SessionNotActive,
    SessionNotFound,
    SessionReadOnly,
)
from session_service.items import iso
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


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


class SessionRepository:
    """Sessions, messages and memory records in one DynamoDB table (keys: :mod:`session_service.items`).

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

    # -- helpers --------------------------------------------------------------------------------------

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        """A transaction's Put of an item that must not exist yet (ids are fresh UUIDs)."""
        return {
            "Put": {
                "TableName": self._table,
                "Item": serialize(item),
                "ConditionExpression": "attribute_not_exists(PK)",
            }
        }

    def _is_live(self, item: dict[str, Any] | None, caller: str) -> bool:
        """True when ``item`` is a session the caller owns that has not expired (TTL runs days late)."""
        return (
            item is not None
            and item.get("user_id") == caller
            and int(item.get("expires_at", 0)) > int(self._clock().timestamp())
        )

    def _load_session(self, session_id: str, caller: str) -> dict[str, Any]:
        response = dynamo.call(
            self._client, "get_item", TableName=self._table, Key=items.session_key(session_id), ConsistentRead=True
        )
        item = deserialize(response["Item"]) if response.get("Item") else None
        if item is None or not self._is_live(item, caller):
            raise SessionNotFound()
        return item

    def _query_page(
        self, query: dict[str, Any], *, skip: int, take: int, start_key: dict[str, Any] | None
    ) -> dynamo.Page:
        return dynamo.query_page(self._client, query, skip=skip, take=take, start_key=start_key)

    # -- sessions -------------------------------------------------------------------------------------

    def create_session(self, caller: str, request: SessionCreate) -> tuple[Session, bool]:
        """Create a session for ``caller``; return ``(session, created)``.

        A ``session_id`` the caller already owns returns the existing session with ``created=False``
        (seed 004's "ensure the session exists"). Raises :class:`SessionIdTaken` when another user owns the
        id, or when it names an expired session whose content is still being removed.
        """
        session_id = request.session_id or self._new_id()
        item = items.new_session_item(
            session_id, caller, request, self._clock(), request.ttl_seconds or self._ttl_seconds
        )
        try:
            dynamo.conditional(
                self._client,
                "put_item",
                TableName=self._table,
                Item=serialize(item),
                ConditionExpression="attribute_not_exists(PK)",
            )
        except ConditionFailed as failure:
            if self._is_live(failure.item, caller):
                assert failure.item is not None
                return items.session_from_item(failure.item), False
            raise SessionIdTaken() from failure
        return items.session_from_item(item), True

    def get_session(self, session_id: str, caller: str) -> Session:
        """Return the caller's live session. Raises :class:`SessionNotFound` (missing, foreign, expired)."""
        return items.session_from_item(self._load_session(session_id, caller))

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
        now = self._clock()
        values: dict[str, Any] = {":now": iso(now), ":one": 1, ":caller": caller, ":epoch": int(now.timestamp())}
        sets = ["updated_at = :now", "version = version + :one"]
        for field in ("title", "metadata", "conversation_data"):
            if field in changes:
                values[f":{field}"] = changes[field] if field == "title" else dump_json(changes[field])
                sets.append(f"{field} = :{field}")
        expression = "SET "
        removes = ""
        if target is not None:
            values[":target"] = target.value
            sets.append("#status = :target")
            if target is not SessionStatus.ACTIVE:
                removes = f" REMOVE {items.GSI_ACTIVE}PK, {items.GSI_ACTIVE}SK"
        statuses = sorted(s.value for s in allowed)
        values.update({f":s{i}": status for i, status in enumerate(statuses)})
        condition = (
            "attribute_exists(PK) AND user_id = :caller AND expires_at > :epoch"
            f" AND #status IN ({', '.join(f':s{i}' for i in range(len(statuses)))})"
        )
        if if_match is not None:
            values[":expected"] = if_match
            condition += " AND version = :expected"
        try:
            response = dynamo.conditional(
                self._client,
                "update_item",
                TableName=self._table,
                Key=items.session_key(session_id),
                UpdateExpression=expression + ", ".join(sets) + removes,
                ConditionExpression=condition,
                ExpressionAttributeNames={"#status": "status"},
                ExpressionAttributeValues=serialize(values),
                ReturnValues="ALL_NEW",
            )
        except ConditionFailed as failure:
            old = failure.item
            if not self._is_live(old, caller):
                raise SessionNotFound() from failure
            assert old is not None
            if if_match is not None and int(old["version"]) != if_match:
                raise PreconditionFailed() from failure
            if target is not None and old["status"] not in statuses_allowed_before(target):
                raise InvalidStatusTransition(old["status"], target.value) from failure
            raise SessionReadOnly() from failure
        return items.session_from_item(deserialize(response["Attributes"]))

    def end_session(self, session_id: str, caller: str, *, if_match: int | None = None) -> Session:
        """DELETE: set status ``ended`` (read-only from then on). Ending an ended session is a no-op.

        Raises :class:`SessionNotFound`, :class:`InvalidStatusTransition` (from completed or archived),
        :class:`PreconditionFailed`.
        """
        return self.update_session(session_id, caller, SessionUpdate(status=SessionStatus.ENDED), if_match=if_match)

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
        index = items.GSI_ACTIVE if active_only else items.GSI_ALL
        query = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": f"{index}PK = :pk",
            "FilterExpression": "expires_at > :epoch",
            "ExpressionAttributeValues": serialize(
                {":pk": items.user_pk(user_id), ":epoch": int(self._clock().timestamp())}
            ),
            "ScanIndexForward": False,
        }
        result = self._query_page(query, skip=skip, take=page_size, start_key=start_key)
        response = dynamo.call(self._client, "get_item", TableName=self._table, Key=items.user_counts_key(user_id))
        counts = deserialize(response["Item"]) if response.get("Item") else {}
        total = int(counts.get("active_sessions" if active_only else "sessions", 0))
        return SessionList(
            sessions=[items.session_from_item(deserialize(raw)) for raw in result.items],
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
            item = items.message_item(session_id, caller, self._new_id(), request, created)
            payload_bytes += dynamo.item_size(item)
            messages.append(items.message_from_item(item))
            actions.append(self._put_new(item))
        increments = {
            "message_count": len(requests),
            "total_tokens": sum(r.tokens_used for r in requests),
            "total_cost": sum((r.cost_usd for r in requests), Decimal(0)),
        }
        # DynamoDB refuses a larger transaction with a ValidationException (a 500); 1 KiB is left for the
        # session's update.
        if payload_bytes > dynamo.MAX_TRANSACTION_BYTES - 1024:
            raise PayloadTooLarge()
        actions.append(self._activity_update(session_id, caller, now, increments))
        self._transact_activity(actions, caller)
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
                "Key": items.session_key(session_id),
                "UpdateExpression": (
                    f"SET last_activity = :now, updated_at = :now, {items.GSI_ALL}SK = :now,"
                    f" {items.GSI_ACTIVE}SK = :now, expires_at = ttl_seconds + :epoch"
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

    def _transact_activity(self, actions: list[dict[str, Any]], caller: str) -> None:
        """Run a transaction whose last action is :meth:`_activity_update`; explain a failed condition."""
        try:
            dynamo.transact_write(self._client, actions)
        except TransactionCanceled as canceled:
            if not self._is_live(canceled.item(-1), caller):
                raise SessionNotFound() from canceled
            if canceled.failed(-1):
                raise SessionNotActive() from canceled
            raise ServiceUnavailable() from canceled  # an id collision on a new item: retrying draws new ids

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
            "ExpressionAttributeValues": serialize(
                {":pk": items.session_pk(session_id), ":prefix": items.MESSAGE_PREFIX}
            ),
            "ConsistentRead": True,
        }
        result = self._query_page(query, skip=skip, take=page_size, start_key=start_key)
        cursor = None
        if result.last_evaluated:
            position = {"k": result.last_evaluated, "p": page + 1, "t": total, "e": expires_at}
            cursor = self._cursors.encode(scope, position)
        return MessageList(
            messages=[items.message_from_item(deserialize(raw)) for raw in result.items],
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
        item = items.memory_item(session_id, caller, self._new_id(), request, now)
        counts = {items.memory_count_attribute(None): 1, items.memory_count_attribute(request.memory_type): 1}
        self._transact_activity([self._put_new(item), self._activity_update(session_id, caller, now, counts)], caller)
        return items.memory_from_item(item)

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
        prefix = items.memory_prefix(memory_type)
        scope = f"memory|{session_id}|{caller}|{prefix}|{page_size}"
        start_key = self._cursors.decode(scope, next_token)["k"] if next_token else None
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            "ExpressionAttributeValues": serialize({":pk": items.session_pk(session_id), ":prefix": prefix}),
            "ConsistentRead": True,
        }
        result = self._query_page(query, skip=0, take=page_size, start_key=start_key)
        return MemoryList(
            memories=[items.memory_from_item(deserialize(raw)) for raw in result.items],
            total=int(session.get(items.memory_count_attribute(memory_type), 0)),
            next_token=self._cursors.encode(scope, {"k": result.last_evaluated}) if result.last_evaluated else None,
        )

    # -- statistics and health ------------------------------------------------------------------------

    def get_stats(self) -> Stats:
        """Service-wide statistics as the stream function keeps them (one GetItem)."""
        response = dynamo.call(self._client, "get_item", TableName=self._table, Key=items.STATS_KEY)
        values = deserialize(response["Item"]) if response.get("Item") else {}
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
        return dynamo.answers(self._client, self._table, items.STATS_KEY)
