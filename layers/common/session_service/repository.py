"""The repository: the service's operations on the single table (keys and items: :mod:`session_service.items`;
DynamoDB calls and their errors: :mod:`session_service.dynamo`).

Each operation is one conditional request or one transaction, so a failed request writes nothing; a failed
condition becomes a domain error (:mod:`session_service.errors`) from the item DynamoDB returns with the
failure, without a second read.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from functools import partial
from typing import Any

from session_service import dynamo, items
from session_service.cursor import CursorCodec
from session_service.dynamo import ConditionFailed, TransactionCanceled, deserialize, serialize
from session_service.errors import (
    ErasureNotFound,
    InvalidCursor,
    InvalidStatusTransition,
    MessageConflict,
    MessageNotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    SessionIdTaken,
    SessionNotActive,
    SessionNotFound,
    SessionReadOnly,
    TooManyModels,
    UserErasing,
)
from session_service.idempotency import IDEMPOTENCY_TTL_SECONDS, IdempotencyKeyReused, WriteGuard
from session_service.items import iso, parse_iso
from session_service.models import (
    ALLOWED_TRANSITIONS,
    MAX_MESSAGE_BYTES,
    MAX_MODELS_PER_SESSION,
    ChunkCreate,
    Context,
    Erasure,
    ErasureStatus,
    Memory,
    MemoryCreate,
    MemoryList,
    MemoryType,
    Message,
    MessageCreate,
    MessageList,
    MessageOrder,
    MessageUpdate,
    ModelUsage,
    Session,
    SessionCreate,
    SessionList,
    SessionStatus,
    SessionSummary,
    SessionUpdate,
    Stats,
    Usage,
    dump_json,
    export_line,
    statuses_allowed_before,
)
from session_service.models import ExportType as Line

_READS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="reads")
"""Runs a read alongside another (botocore clients are thread-safe)."""


MAX_EXPORT_PAGE_BYTES = 6_291_456 - 64 * 1024
"""What one page of a user's export may weigh: Lambda's synchronous response is at most 6 MB (6,291,456 bytes,
the payload limit of "Lambda quotas"), and that is the JSON document the runtime writes, in which the NDJSON body
is one escaped string. Lines are counted as escaped (:func:`_escaped_size`); 64 KiB are left for the status,
the headers (the ``Next-Token`` cursor is at most 2 KiB) and the document's own syntax."""
EXPORT_PARTS = ("session", "messages", "memory")
"""Where a page of an export may stop within a session: before its line, among its messages, or among its
memory records."""


def _escaped_size(line: str) -> int:
    """Bytes ``line`` and its newline take in the runtime's JSON response: ``json.dumps`` escapes a quote, a
    backslash or a control character in two to six bytes and, with ASCII escapes, a non-ASCII character in six
    (twelve beyond the BMP), the most any JSON writer spends."""
    return len(json.dumps(line))  # the two quotes it adds weigh what the escaped newline does ("\\n")


@dataclass
class _ExportPage:
    """The lines of one export page so far: at most ``lines`` of them, within ``budget`` escaped bytes."""

    lines: int
    budget: int
    taken: list[str] = field(default_factory=list)
    size: int = 0

    @property
    def room(self) -> int:
        """Lines the page may still take."""
        return self.lines - len(self.taken)

    def add(self, line: str) -> bool:
        """Take ``line`` unless the page is full (its count, or its bytes: a page takes its first line anyway,
        and no record weighs near the budget); return whether it was taken."""
        size = _escaped_size(line)
        if self.room <= 0 or (self.taken and self.size + size > self.budget):
            return False
        self.taken.append(line)
        self.size += size
        return True


def utcnow() -> datetime:
    """The current time, UTC."""
    return datetime.now(UTC)


class _GuardHit(Exception):
    """A keyed create's guard exists: an earlier attempt with the same key was applied; ``ids`` and ``at`` are
    what it drew."""

    def __init__(self, ids: list[str], at: datetime) -> None:
        super().__init__("write guard exists")
        self.ids, self.at = ids, at


class Appended(list[Message]):
    """The messages an append stored, in order; ``created`` is false when they were stored before (a repeated
    append with the client's ``message_id``s: 200 instead of 201)."""

    def __init__(self, messages: Iterable[Message], *, created: bool) -> None:
        super().__init__(messages)
        self.created = created


@dataclass
class _Plan:
    """One change of a message: ``message`` is the item as it will be stored, ``actions`` the transaction's
    actions on message items (none: nothing to write), ``increments`` what the session's counters move by,
    ``hot_sets`` what else the session's update sets, ``cut`` a key range to cut (a reply's chunks)."""

    message: dict[str, Any]
    actions: list[dict[str, Any]] = field(default_factory=list)
    increments: dict[str, Any] = field(default_factory=dict)
    hot_sets: dict[str, Any] = field(default_factory=dict)
    cut: tuple[str, str] | None = None


def _request_hash(request: MessageCreate) -> str:
    """SHA-256 of an append's body as validated (canonical JSON): what a repeated append is compared with."""
    body = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _pairs_named(increments: dict[str, Any]) -> set[str]:
    """The (provider, model) pairs (:func:`~session_service.items.model_pair`) that ``increments`` give messages
    (a positive message count): the only ones a change can add to a session (a pair whose messages go or move
    away is one the session named already)."""
    found = set()
    for name, value in increments.items():
        parsed = items.parse_usage_attribute(name)
        if parsed is not None and parsed[2] == "m" and value > 0:
            found.add(items.model_pair(parsed[0], parsed[1]))
    return found


def _over_model_cap(hot: dict[str, Any] | None, increments: dict[str, Any]) -> bool:
    """True when the session ``hot`` (as stored) would name more than :data:`MAX_MODELS_PER_SESSION` pairs with
    those of ``increments``."""
    named = set(hot.get(items.MODELS, set())) if hot else set()
    return len(named | _pairs_named(increments)) > MAX_MODELS_PER_SESSION


def _usage_order(row: ModelUsage) -> tuple[Any, ...]:
    """Usage rows by cost, highest first, then by provider and model (a missing one after the named)."""
    return (-row.cost, row.provider is None, row.provider or "", row.model is None, row.model or "")


def predecessor(target: SessionStatus) -> SessionStatus | None:
    """The one status from which ``target`` is reached (seed 002's state machine), or ``None`` (``active``)."""
    before = [status for status, nexts in ALLOWED_TRANSITIONS.items() if target in nexts]
    return before[0] if before else None


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

    def _epoch(self) -> int:
        return int(self._clock().timestamp())

    def _put(
        self, item: dict[str, Any], condition: str | None = None, values: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A transaction's Put; with a ``condition``, the old item is returned when it fails."""
        put: dict[str, Any] = {"TableName": self._table, "Item": serialize(item)}
        if condition:
            put["ConditionExpression"] = condition
            put["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
            if values:
                put["ExpressionAttributeValues"] = serialize(values)
        return {"Put": put}

    def _put_new(self, item: dict[str, Any]) -> dict[str, Any]:
        """A transaction's Put of an item that must not exist yet."""
        return self._put(item, "attribute_not_exists(PK)")

    def _count(self, user_id: str, deltas: dict[str, int]) -> dict[str, Any]:
        """A transaction's ADD to a user's counts (:func:`~session_service.items.count_attribute` names). When the
        user gains sessions, it is conditioned on the user's data not being erased (:data:`~session_service.items.
        ERASING`): a create fails there while an erasure runs."""
        action = dynamo.add_action(self._table, items.user_counts_key(user_id), deltas)
        if deltas.get(items.count_attribute(None), 0) > 0:
            action["Update"]["ConditionExpression"] = f"attribute_not_exists({items.ERASING})"
        return action

    @staticmethod
    def _refuse_if_erasing(canceled: TransactionCanceled, counts: range) -> None:
        """Raise :class:`UserErasing` when one of a create's ``counts`` actions failed (an erasure runs)."""
        if any(canceled.failed(index) for index in counts):
            raise UserErasing() from canceled

    def _transact(self, actions: list[dict[str, Any]], guard: WriteGuard | None, ids: list[str], at: datetime) -> None:
        """Run a create's transaction; with a ``guard``, its item goes first, conditioned on not existing.

        Raises :class:`_GuardHit` when an earlier attempt with the same key was applied,
        :class:`IdempotencyKeyReused` when that attempt had another body, and :class:`TransactionCanceled`
        with the reasons of ``actions`` alone when another condition failed.
        """
        if guard is None:
            dynamo.transact_write(self._client, actions)
            return
        item = items.guard_item(guard.caller, guard.token, guard.request, ids, at, IDEMPOTENCY_TTL_SECONDS)
        try:
            dynamo.transact_write(self._client, [self._put_new(item), *actions])
        except TransactionCanceled as canceled:
            first = canceled.item(0)
            if canceled.failed(0) and first is not None:
                if first.get("request") != guard.request:
                    raise IdempotencyKeyReused() from canceled
                raise _GuardHit([str(i) for i in first["ids"]], parse_iso(str(first["created_at"]))) from canceled
            raise TransactionCanceled(canceled.reasons[1:]) from canceled

    def _is_live(self, item: dict[str, Any] | None, caller: str) -> bool:
        """True when ``item`` is a session the caller owns that has not expired (TTL runs days late) nor been
        deleted (a tombstone expires at its delete's second; its status keeps a clock a second behind from
        seeing it)."""
        return (
            item is not None
            and item.get("user_id") == caller
            and int(item.get("expires_at", 0)) > self._epoch()
            and not items.is_tombstone(item)
        )

    def _session_items(self, session_id: str, caller: str, *sort_keys: str) -> dict[str, dict[str, Any]]:
        """The caller's live session's items with these sort keys (the hot item's first), by sort key, and the
        caller's counts, in one consistent BatchGetItem. Raises :class:`SessionNotFound` when the session is
        missing, another user's, expired or deleted, or while the caller's data is being erased (SPEC section 9:
        gone for every reader from the moment the erasure was accepted)."""
        keys = [items.key(items.session_pk(session_id), sort_key) for sort_key in sort_keys]
        found = dynamo.batch_get(self._client, self._table, [*keys, items.user_counts_key(caller)])
        counts = next((item for item in found if item["PK"] == items.user_pk(caller)), None)
        by_sort_key = {str(item["SK"]): item for item in found if item["PK"] == items.session_pk(session_id)}
        if not self._is_live(by_sort_key.get(sort_keys[0]), caller) or items.erasing(counts):
            raise SessionNotFound()
        return by_sort_key

    def _erasing(self, caller: str) -> bool:
        """True while the caller's data is being erased (one consistent GetItem of the caller's counts)."""
        response = dynamo.call(
            self._client, "get_item", TableName=self._table, Key=items.user_counts_key(caller), ConsistentRead=True
        )
        return items.erasing(deserialize(response["Item"]) if response.get("Item") else None)

    def _hot(self, session_id: str, caller: str) -> dict[str, Any]:
        """The caller's live session's hot item (:meth:`_session_items`). Raises :class:`SessionNotFound`."""
        return self._session_items(session_id, caller, items.SESSION_SK)[items.SESSION_SK]

    def _hot_and_summary(self, session_id: str, caller: str) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The hot and summary items of the caller's live session (one BatchGetItem)."""
        found = self._session_items(session_id, caller, items.SESSION_SK, items.SUMMARY_SK)
        return found[items.SESSION_SK], found.get(items.SUMMARY_SK)

    def _session_parts(self, session_id: str) -> dict[str, dict[str, Any]]:
        """A session's hot, data and summary items by sort key (one consistent Query), whoever owns them."""
        response = dynamo.call(
            self._client,
            "query",
            TableName=self._table,
            KeyConditionExpression="PK = :pk AND begins_with(SK, :sk)",
            ExpressionAttributeValues=serialize({":pk": items.session_pk(session_id), ":sk": items.SESSION_SK}),
            ConsistentRead=True,
        )
        return {item["SK"]: item for item in map(deserialize, response.get("Items", []))}

    def _read_session(self, session_id: str, caller: str) -> Session:
        """The caller's live session: one BatchGetItem reads its hot, data and summary items."""
        found = self._session_items(session_id, caller, items.SESSION_SK, items.DATA_SK, items.SUMMARY_SK)
        return items.session_from_items(found[items.SESSION_SK], found.get(items.DATA_SK), found.get(items.SUMMARY_SK))

    # -- sessions -------------------------------------------------------------------------------------

    def create_session(
        self, caller: str, request: SessionCreate, guard: WriteGuard | None = None, *, retry: bool = True
    ) -> tuple[Session, bool]:
        """Create a session for ``caller``; return ``(session, created)``.

        One transaction: the hot item (``attribute_not_exists``), the data item, and the caller's counts.
        A ``session_id`` the caller already owns returns the existing session with ``created=False`` (seed
        004's "ensure the session exists"); an expired one is free again and becomes a new, empty session
        (SPEC section 3). With a ``guard`` (an ``Idempotency-Key``), a retry of a create that was applied
        returns that session as it was created (``created=True``), whatever failed in between.
        ``retry`` allows one more attempt when an expired session changes while it is taken over.
        Raises :class:`SessionIdTaken` when another user owns a live session of that id,
        :class:`IdempotencyKeyReused`.
        """
        session_id, now = request.session_id or self._new_id(), self._clock()
        ttl = request.ttl_seconds or self._ttl_seconds
        hot, data = items.new_session_items(session_id, caller, request, now, ttl)
        created = {items.count_attribute(None): 1, items.count_attribute(SessionStatus.ACTIVE): 1}
        try:
            self._transact(
                [self._put_new(hot), self._put(data), self._count(caller, created)], guard, [session_id], now
            )
        except _GuardHit as hit:
            hot, data = items.new_session_items(hit.ids[0], caller, request, hit.at, ttl)
        except TransactionCanceled as canceled:
            self._refuse_if_erasing(canceled, range(2, 3))
            old = canceled.item(0)
            if old is None:
                raise ServiceUnavailable() from canceled
            # The same instant as the new session's created_at: everything of the old session is older.
            if int(old.get("expires_at", 0)) > int(now.timestamp()) and not items.is_tombstone(old):
                if old.get("user_id") == caller:
                    return self._read_session(session_id, caller), False
                raise SessionIdTaken() from canceled
            try:
                self._take_over(old, hot, data, created, guard)
            except _GuardHit as hit:  # a retry with the same key took the id over first
                hot, data = items.new_session_items(hit.ids[0], caller, request, hit.at, ttl)
            except TransactionCanceled as lost:
                # The expired session changed under us: TTL removed it, or another create took it over.
                # Once more from the start answers as for that state (201, 200 for the caller's, or 409).
                if not retry:
                    raise SessionIdTaken() from lost
                return self.create_session(caller, request, guard, retry=False)
        return items.session_from_items(hot, data, None), True

    def _take_over(
        self,
        old: dict[str, Any],
        hot: dict[str, Any],
        data: dict[str, Any],
        created: dict[str, int],
        guard: WriteGuard | None,
    ) -> None:
        """Create ``hot``/``data`` over the expired session ``old`` that TTL has not removed yet.

        Conditioned on ``old`` still being that expired incarnation; the old owner's counts lose it in the same
        transaction (the stream function deletes its messages and memory records). Raises
        :class:`TransactionCanceled` when the old session changed first (removed by TTL, or taken over).
        """
        caller = str(hot["user_id"])
        counts = [self._count(user_id, deltas) for user_id, deltas in self._take_over_moves(old, caller, created)]
        # Expired by the new session's created_at, not by a later clock: an append to the old session is
        # refused from its expires_at on, so every old item is older than the new incarnation.
        condition, values = self._take_over_condition(old, hot)
        actions = [self._put(hot, condition, values), self._put(data), *counts]
        self._transact(actions, guard, [str(hot["session_id"])], items.parse_iso(str(hot["created_at"])))

    @staticmethod
    def _take_over_moves(old: dict[str, Any], caller: str, created: dict[str, int]) -> list[tuple[str, dict[str, int]]]:
        """How the counts move (``(user_id, deltas)``, one a user) when ``caller`` creates a session (its counts:
        ``created``) over the expired ``old``: its owner loses it, unless it is a tombstone (its delete moved
        the counts already)."""
        if items.is_tombstone(old):
            return [(caller, created)]
        gone = {items.count_attribute(None): -1, items.count_attribute(SessionStatus(old["status"])): -1}
        if old["user_id"] == caller:
            merged = dict(created)
            for name, delta in gone.items():
                merged[name] = merged.get(name, 0) + delta
            return [(caller, merged)]
        return [(caller, created), (str(old["user_id"]), gone)]

    @staticmethod
    def _take_over_condition(old: dict[str, Any], hot: dict[str, Any]) -> tuple[str, dict[str, Any]]:
        """The condition (and values) of putting ``hot`` over the expired session ``old``: still that
        incarnation, expired by ``hot``'s ``created_at``, and not a tombstone an erasure is cleaning up (the
        erasure counts its sessions as they leave the table: the id is free again once it has left)."""
        created_at = items.parse_iso(str(hot["created_at"]))
        values = {":incarnation": old["created_at"], ":created": int(created_at.timestamp())}
        condition = f"created_at = :incarnation AND expires_at <= :created AND attribute_not_exists({items.ERASED_BY})"
        return condition, values

    def get_session(self, session_id: str, caller: str) -> Session:
        """Return the caller's live session (one Query). Raises :class:`SessionNotFound` (missing, foreign,
        expired)."""
        return self._read_session(session_id, caller)

    def get_summary(self, session_id: str, caller: str) -> SessionSummary:
        """The session's counters and summary text (one BatchGetItem). Raises :class:`SessionNotFound`."""
        hot, summary = self._hot_and_summary(session_id, caller)
        return items.session_from_items(hot, None, summary).summary()

    def update_session(
        self, session_id: str, caller: str, request: SessionUpdate, *, if_match: int | None = None
    ) -> Session:
        """Apply a PUT in one transaction and return the session as it then is.

        ``title`` and ``status`` change the hot item, ``metadata`` and ``conversation_data`` (replaced whole)
        the data item; a status change moves the caller's counts in the same transaction, so a listing's
        ``total`` is exact at once. ``status`` follows :data:`~session_service.models.ALLOWED_TRANSITIONS`
        (setting the current status is a no-op); an ``ended`` session is read-only. ``if_match`` is the
        version the caller last saw (its ETag). Raises :class:`SessionNotFound`,
        :class:`InvalidStatusTransition`, :class:`SessionReadOnly`, :class:`PreconditionFailed`.
        """
        self._apply_update(session_id, caller, request, if_match)
        return self._read_session(session_id, caller)

    def _apply_update(self, session_id: str, caller: str, request: SessionUpdate, if_match: int | None) -> None:
        """The write of :meth:`update_session`; raises its errors."""
        changes = request.model_dump(exclude_unset=True, exclude_none=True)
        target = SessionStatus(changes.pop("status")) if "status" in changes else None
        before = predecessor(target) if target else None
        try:
            self._update(session_id, caller, changes, target, before, if_match)
        except TransactionCanceled as canceled:
            old = canceled.item(0)
            if not self._is_live(old, caller):
                raise SessionNotFound() from canceled
            assert old is not None
            if if_match is not None and int(old["version"]) != if_match:
                raise PreconditionFailed() from canceled
            if target is not None and old["status"] not in statuses_allowed_before(target):
                raise InvalidStatusTransition(old["status"], target.value) from canceled
            if target is None or old["status"] != target or before is None or (changes and target.is_read_only):
                raise SessionReadOnly() from canceled
            # The session has the requested status already: the status part is a no-op, the rest applies.
            try:
                self._update(session_id, caller, changes, target, None, if_match)
            except TransactionCanceled as again:
                raise SessionReadOnly() if self._is_live(again.item(0), caller) else SessionNotFound() from again

    def _update(
        self,
        session_id: str,
        caller: str,
        changes: dict[str, Any],
        target: SessionStatus | None,
        before: SessionStatus | None,
        if_match: int | None,
    ) -> None:
        """The PUT transaction: a transition ``before -> target`` when ``before`` is given, else ``target`` (if
        any) must be the current status. Raises :class:`TransactionCanceled` with the hot item first."""
        now = self._clock()
        values: dict[str, Any] = {":now": iso(now), ":one": 1, ":caller": caller, ":epoch": int(now.timestamp())}
        sets = ["updated_at = :now", "version = version + :one"]
        if "title" in changes:
            values[":title"] = changes["title"]
            sets.append("title = :title")
        if target is not None and before is not None:
            values.update({":target": target.value, ":index": f"{items.status_index_prefix(target)}{iso(now)}"})
            sets += ["#status = :target", f"{items.GSI_STATUS}SK = :index"]
            allowed = [before]
        elif target is not None:
            allowed = [target]
        else:
            allowed = [s for s in SessionStatus if not (s.is_read_only and changes)]
        values.update({f":s{i}": status.value for i, status in enumerate(allowed)})
        condition = (
            "attribute_exists(PK) AND user_id = :caller AND expires_at > :epoch"
            f" AND #status IN ({', '.join(f':s{i}' for i in range(len(allowed)))})"
        )
        if if_match is not None:
            values[":expected"] = if_match
            condition += " AND version = :expected"
        actions: list[dict[str, Any]] = [
            {
                "Update": {
                    "TableName": self._table,
                    "Key": items.session_key(session_id),
                    "UpdateExpression": "SET " + ", ".join(sets),
                    "ConditionExpression": condition,
                    "ExpressionAttributeNames": {"#status": "status"},
                    "ExpressionAttributeValues": serialize(values),
                    "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                }
            }
        ]
        data = {name: dump_json(changes[name]) for name in ("metadata", "conversation_data") if name in changes}
        if data:
            actions.append(
                {
                    "Update": {
                        "TableName": self._table,
                        "Key": items.data_key(session_id),
                        "UpdateExpression": "SET " + ", ".join(f"{name} = :{name}" for name in data),
                        "ExpressionAttributeValues": serialize({f":{name}": value for name, value in data.items()}),
                    }
                }
            )
        if target is not None and before is not None:
            actions.append(self._count(caller, {items.count_attribute(before): -1, items.count_attribute(target): 1}))
        dynamo.transact_write(self._client, actions)

    def end_session(self, session_id: str, caller: str, *, if_match: int | None = None) -> None:
        """DELETE: set status ``ended`` (read-only from then on) in one transaction. Ending an ended session is
        a no-op.

        Raises :class:`SessionNotFound`, :class:`InvalidStatusTransition` (from completed or archived),
        :class:`PreconditionFailed`.
        """
        self._apply_update(session_id, caller, SessionUpdate(status=SessionStatus.ENDED), if_match)

    def session_exists(self, session_id: str, caller: str) -> None:
        """HEAD (seed 003's ``session_exists``): one consistent GetItem of the hot item. Returns when the caller
        has the live session; raises :class:`SessionNotFound` otherwise (missing, another user's, expired,
        deleted)."""
        self._hot(session_id, caller)

    def delete_session(self, session_id: str, caller: str, *, if_match: int | None = None) -> None:
        """DELETE ``?permanent=true``: delete the caller's session for good (:meth:`delete_sessions`).

        ``if_match`` is the version the caller last saw (its ETag). Raises :class:`SessionNotFound`,
        :class:`PreconditionFailed`.
        """
        self.delete_sessions(caller, [session_id], if_match=if_match)

    def delete_sessions(self, caller: str, session_ids: Sequence[str], *, if_match: int | None = None) -> int:
        """Delete the caller's live sessions for good, all or nothing; return how many (SPEC section 9, seed
        003's ``delete_session`` and ``batch_delete_sessions``).

        One consistent BatchGetItem of the hot items, then one transaction: each hot item becomes a tombstone
        (:func:`~session_service.items.tombstone_update`), conditioned on being the caller's, live, and the
        incarnation and status read, and the caller's counts lose them (so a listing's ``total`` drops at once).
        Every reader treats a tombstone as gone from that moment; the stream function deletes the sessions'
        items afterwards, however many there are. ``session_ids`` are distinct (at most 25 with the counts:
        TransactWriteItems' 100 actions); ``if_match`` (one session) is the version the caller last saw.
        Raises :class:`SessionNotFound` when one of them is missing, another user's, expired or deleted
        (nothing is deleted), :class:`PreconditionFailed`, :class:`ServiceUnavailable` when their statuses
        keep changing.
        """
        for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
            found = {
                str(item["session_id"]): item
                for item in dynamo.batch_get(self._client, self._table, [items.session_key(i) for i in session_ids])
            }
            hots = [found.get(session_id) for session_id in session_ids]
            if not all(self._is_live(hot, caller) for hot in hots):
                raise SessionNotFound()
            live = [hot for hot in hots if hot is not None]
            if if_match is not None and any(int(hot["version"]) != if_match for hot in live):
                raise PreconditionFailed()
            try:
                dynamo.transact_write(self._client, self._tombstone_actions(caller, live, if_match))
                return len(live)
            except TransactionCanceled as canceled:
                failed = [canceled.item(i) for i in range(len(live)) if canceled.failed(i)]
                if any(not self._is_live(old, caller) for old in failed):
                    raise SessionNotFound() from canceled
                if if_match is not None and any(int(old["version"]) != if_match for old in failed if old):
                    raise PreconditionFailed() from canceled
                # A status changed since the read: the counts to move changed with it; read again.
        raise ServiceUnavailable()

    def _tombstone_actions(self, caller: str, hots: Sequence[dict[str, Any]], if_match: int | None) -> list[Any]:
        """The transaction turning the caller's ``hots`` (as read) into tombstones, and the caller's counts."""
        now = self._clock()
        condition = "user_id = :caller AND created_at = :incarnation AND #status = :was AND expires_at > :epoch"
        values: dict[str, Any] = {":caller": caller, ":epoch": int(now.timestamp())}
        if if_match is not None:
            condition += " AND version = :expected"
            values[":expected"] = if_match
        actions = [
            items.tombstone_action(
                self._table, hot, now, condition, {**values, ":incarnation": hot["created_at"], ":was": hot["status"]}
            )
            for hot in hots
        ]
        return [*actions, self._count(caller, items.counts_lost(hots))]

    def create_sessions(
        self, caller: str, requests: Sequence[SessionCreate], guard: WriteGuard | None = None
    ) -> list[Session]:
        """Create sessions for ``caller``, all or nothing, in one transaction (SPEC section 9, seed 003's
        ``batch_save_sessions``); return them in the order of ``requests``.

        Each session is two items (hot, data) as in :meth:`create_session`, and the caller's counts move once.
        An id whose session expired (or was deleted) is taken over as by a single create. ``requests`` have
        distinct ids (at most 25: TransactWriteItems' 100 actions). With a ``guard`` (an ``Idempotency-Key``),
        a retry of a batch that was applied returns its sessions as they were created.
        Raises :class:`SessionIdTaken` when a ``session_id`` names a live session, the caller's own included
        (nothing is created: a batch creates, it does not "ensure"), :class:`IdempotencyKeyReused`.
        """
        ids, now = [request.session_id or self._new_id() for request in requests], self._clock()
        olds: dict[str, dict[str, Any]] = {}
        for attempt in range(2):
            pairs = [self._new_items(caller, i, r, now) for i, r in zip(ids, requests, strict=True)]
            try:
                self._transact(self._create_actions(caller, pairs, olds), guard, ids, now)
                break
            except _GuardHit as hit:
                ids, now = hit.ids, hit.at
                break
            except TransactionCanceled as canceled:
                self._refuse_if_erasing(canceled, range(2 * len(pairs), len(canceled.reasons)))
                for index, (hot, _) in enumerate(pairs):
                    if not canceled.failed(2 * index):
                        continue
                    old = canceled.item(2 * index)
                    live = old is not None and int(old.get("expires_at", 0)) > int(now.timestamp())
                    # A live id is refused; so is an expired one that changed while it was taken over.
                    if attempt or old is None or (live and not items.is_tombstone(old)):
                        raise SessionIdTaken() from canceled
                    olds[str(hot["session_id"])] = old
        else:
            raise SessionIdTaken()
        pairs = [self._new_items(caller, i, r, now) for i, r in zip(ids, requests, strict=True)]
        return [items.session_from_items(hot, data, None) for hot, data in pairs]

    def _new_items(
        self, caller: str, session_id: str, request: SessionCreate, now: datetime
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        return items.new_session_items(session_id, caller, request, now, request.ttl_seconds or self._ttl_seconds)

    def _create_actions(
        self, caller: str, pairs: Sequence[tuple[dict[str, Any], dict[str, Any]]], olds: dict[str, dict[str, Any]]
    ) -> list[dict[str, Any]]:
        """A batch create's transaction: each session's hot item (new, or over the expired ``olds`` of its id)
        and data item, then the counts of the caller and of the expired sessions' owners, one action a user."""
        actions: list[dict[str, Any]] = []
        counts: dict[str, dict[str, int]] = {}
        created = {items.count_attribute(None): 1, items.count_attribute(SessionStatus.ACTIVE): 1}
        for hot, data in pairs:
            old = olds.get(str(hot["session_id"]))
            if old is None:
                actions.append(self._put_new(hot))
                moves = [(caller, created)]
            else:
                actions.append(self._put(hot, *self._take_over_condition(old, hot)))
                moves = self._take_over_moves(old, caller, created)
            actions.append(self._put(data))
            for user_id, deltas in moves:
                total = counts.setdefault(user_id, {})
                for name, delta in deltas.items():
                    total[name] = total.get(name, 0) + delta
        return [*actions, *(self._count(user_id, deltas) for user_id, deltas in counts.items())]

    def list_user_sessions(
        self,
        user_id: str,
        *,
        status: SessionStatus | None = None,
        page: int = 1,
        page_size: int = 50,
        next_token: str | None = None,
    ) -> SessionList:
        """A page of the user's live sessions (of one ``status``, or all), most recent activity first.

        One Query on GSI1 (all) or GSI2 (``begins_with(GSI2SK, "<status>#")``), keys only, then one
        BatchGetItem of the rows' hot items and the user's counts: ``total`` is exact at read time. The rows
        of a page are ordered by their exact ``last_activity`` (the index, by activity to the minute). A row
        whose session expired (TTL runs days late) or changed status since the index was read is left out, so
        a page may be shorter than ``page_size``. Raises :class:`~session_service.errors.InvalidCursor` for a
        foreign or altered cursor.
        """
        scope = f"sessions|{user_id}|{status.value if status else ''}|{page_size}"
        start_key, skip = None, (page - 1) * page_size
        if next_token:
            position = self._cursors.decode(scope, next_token)
            start_key, skip, page = position["k"], 0, int(position["p"])
        values: dict[str, Any] = {":pk": items.user_pk(user_id)}
        if status is None:
            index, condition = items.GSI_ACTIVITY, f"{items.GSI_ACTIVITY}PK = :pk"
        else:
            index = items.GSI_STATUS
            condition = f"{index}PK = :pk AND begins_with({index}SK, :status)"
            values[":status"] = items.status_index_prefix(status)
        query = {
            "TableName": self._table,
            "IndexName": index,
            "KeyConditionExpression": condition,
            "ExpressionAttributeValues": serialize(values),
            "ScanIndexForward": False,
        }
        result = dynamo.query_page(self._client, query, skip=skip, take=page_size, start_key=start_key)
        row_keys = [{"PK": raw["PK"], "SK": raw["SK"]} for raw in result.items]
        found = {
            (item["PK"], item["SK"]): item
            for item in dynamo.batch_get(self._client, self._table, [*row_keys, items.user_counts_key(user_id)])
        }
        counts = found.pop((items.user_pk(user_id), items.COUNTS_SK), {})
        if items.erasing(counts):  # gone for every reader from the moment the erasure was accepted
            return SessionList(sessions=[], total=0, page=page, page_size=page_size, next_token=None)
        rows = []
        for row_key in row_keys:
            hot = found.get((row_key["PK"]["S"], row_key["SK"]["S"]))
            if self._is_live(hot, user_id) and (status is None or (hot is not None and hot["status"] == status.value)):
                assert hot is not None
                rows.append(items.list_item_from_item(hot))
        # The index orders by activity to the minute (items.INDEX_GRAIN_SECONDS); the rows know it exactly.
        rows.sort(key=lambda row: row.last_activity, reverse=True)
        return SessionList(
            sessions=rows,
            total=max(int(counts.get(items.count_attribute(status), 0)), 0),
            page=page,
            page_size=page_size,
            next_token=self._cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1})
            if result.last_evaluated
            else None,
        )

    # -- messages -------------------------------------------------------------------------------------

    def append_messages(
        self, session_id: str, caller: str, requests: Sequence[MessageCreate], guard: WriteGuard | None = None
    ) -> Appended:
        """Store messages and add their counts to the session in one transaction (all or nothing).

        The hot item's ``message_count``, ``total_tokens``, ``total_cost``, ``last_activity`` and
        ``expires_at`` move with the messages: a reader never sees one without the other, and concurrent
        appends lose nothing (``ADD`` is atomic; conflicting transactions are retried). Nothing else is
        written: no index key moves (the stream function moves them once per batch).
        With a ``guard`` (an ``Idempotency-Key``), a retry of an append that was applied returns its messages
        (same ids and times) and writes nothing. A ``message_id`` the client chose is reserved in the same
        transaction: when every message of a repeated request names its id and its stored body is the same,
        the stored messages are returned with ``created`` false and nothing is written (SPEC section 8).
        Raises :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`IdempotencyKeyReused`,
        :class:`MessageConflict` (an id in use with another body), :class:`TooManyModels` (the session would name
        more than ``MAX_MODELS_PER_SESSION`` provider/model pairs), or :class:`PayloadTooLarge` (before any
        write) when the messages exceed what one transaction carries (4 MB, an AWS limit).
        """
        now = self._clock()
        ids = [request.message_id or self._new_id() for request in requests]
        hashes = [_request_hash(r) if r.message_id else None for r in requests]
        increments = {
            "message_count": len(requests),
            "total_tokens": sum(r.tokens_used for r in requests),
            "total_cost": sum((r.cost_usd for r in requests), Decimal(0)),
        }
        increments.update(
            items.sum_usage(
                *(items.usage_increments(r.provider, r.model, 1, r.tokens_used, r.cost_usd) for r in requests)
            )
        )
        if _over_model_cap(None, increments):
            raise TooManyModels()
        chosen = [message_id for message_id, digest in zip(ids, hashes, strict=True) if digest is not None]
        found = self._find_messages(session_id, chosen)
        if any(item is not None for item in found.values()):
            # An id in use: a repeated append, or an id the server drew for another message of the session.
            return self._appended_before(session_id, caller, ids, hashes, found)
        known: set[str] | None = None  # the pairs named that the session names already, once read
        for _ in range(3):
            message_items = self._message_items(session_id, caller, requests, ids, now, hashes)
            payload_bytes = sum(dynamo.item_size(item) for item in message_items)
            # DynamoDB refuses a larger transaction with a ValidationException (a 500); 1 KiB is left for the
            # session's update.
            if payload_bytes > dynamo.MAX_TRANSACTION_BYTES - 1024:
                raise PayloadTooLarge()
            reservations = [
                self._put_new(items.message_id_item(session_id, item["message_id"], item["SK"], item["created_at"]))
                for item, digest in zip(message_items, hashes, strict=True)
                if digest is not None
            ]
            actions = [self._put_new(item) for item in message_items] + reservations
            # A message lands above every cut (a truncation that read the tail before this append committed).
            actions.append(
                self._session_update(
                    session_id,
                    caller,
                    now,
                    increments,
                    condition="(attribute_not_exists(cut_through) OR cut_through < :first)",
                    values={":first": message_items[0]["SK"]},
                    known_pairs=known,
                )
            )
            try:
                self._transact(actions, guard, ids, now)
            except _GuardHit as hit:
                stored = self._message_items(session_id, caller, requests, hit.ids, hit.at, hashes)
                return Appended(map(items.message_from_item, stored), created=True)
            except TransactionCanceled as canceled:
                hot = canceled.item(-1)
                reserved = range(len(message_items), len(message_items) + len(reservations))
                if not canceled.failed(-1) and any(canceled.failed(i) for i in reserved):
                    found = self._find_messages(session_id, chosen)  # taken meanwhile: read them again
                    return self._appended_before(session_id, caller, ids, hashes, found)
                if not self._is_live(hot, caller):
                    raise SessionNotFound() from canceled
                if hot is None or hot.get("status") != SessionStatus.ACTIVE:
                    raise SessionNotActive() from canceled
                if canceled.failed(-1) and _over_model_cap(hot, increments):
                    raise TooManyModels() from canceled
                if canceled.failed(-1):
                    # A cut reaching past ``now`` (append just above it), or the cap's first guess, which counts
                    # every pair named as new: its condition is made again from the pairs the session names.
                    known = _pairs_named(increments) & set(hot.get(items.MODELS, set()))
                    if hot.get("cut_through"):
                        cut = parse_iso(str(hot["cut_through"]).split("#")[1])
                        now = max(now, cut + timedelta(microseconds=1))
                    continue
                raise ServiceUnavailable() from canceled  # an id collision on a new item: retrying draws new ids
            return Appended(map(items.message_from_item, message_items), created=True)
        raise ServiceUnavailable()

    def _appended_before(
        self,
        session_id: str,
        caller: str,
        ids: Sequence[str],
        hashes: Sequence[str | None],
        found: dict[str, dict[str, Any] | None],
    ) -> Appended:
        """The answer to an append whose client-chosen ids are taken: the stored messages (``created``
        false) when every message names its id and was stored with the same body. ``found`` holds the
        messages read by the client-chosen ids (:meth:`_find_messages`). Raises :class:`MessageConflict` otherwise,
        :class:`SessionNotFound` when the session is gone."""
        hot = self._hot(session_id, caller)
        stored = []
        for message_id, digest in zip(ids, hashes, strict=True):
            item = found.get(message_id) if digest is not None else None
            if item is None or item.get("body_hash") != digest or not self._shows(hot, item):
                raise MessageConflict("A message with this message_id exists with another body (or being deleted)")
            stored.append(self._with_content(item))
        return Appended(map(items.message_from_item, stored), created=False)

    @staticmethod
    def _message_items(
        session_id: str,
        caller: str,
        requests: Sequence[MessageCreate],
        ids: Sequence[str],
        now: datetime,
        hashes: Sequence[str | None],
    ) -> list[dict[str, Any]]:
        """The items of a batch of messages: ``now`` plus a microsecond each keeps them in the order given."""
        return [
            items.message_item(session_id, caller, message_id, request, now + timedelta(microseconds=offset), digest)
            for offset, (request, message_id, digest) in enumerate(zip(requests, ids, hashes, strict=True))
        ]

    def _session_update(
        self,
        session_id: str,
        caller: str,
        now: datetime,
        increments: dict[str, Any],
        *,
        sets: dict[str, Any] | None = None,
        condition: str | None = None,
        values: dict[str, Any] | None = None,
        names_also: dict[str, str] | None = None,
        known_pairs: set[str] | None = None,
    ) -> dict[str, Any]:
        """The Update of a transaction that records activity on an active, live, owned session: ``ADD`` the
        ``increments`` (attribute -> number; any name: per-model usage attributes too), ``SET`` the ``sets``
        (a path such as ``cuts.#cut`` -> value), and require ``condition`` too (its ``values`` named ``:<name>``,
        attribute names in ``names_also``). Pairs (provider, model) the increments give messages join the hot
        item's ``models`` set, on the condition that it stays within ``MAX_MODELS_PER_SESSION``: exactly, given
        ``known_pairs`` (the pairs the session was read to name); else a first guess that counts every pair as
        new unless the session names them all (a refused guess is made again from the stored set)."""
        names = {"#status": "status"}
        assignments = ["last_activity = :now", "updated_at = :now", "expires_at = ttl_seconds + :epoch"]
        pairs = _pairs_named(increments)
        if pairs:  # the session's set of (provider, model) pairs, capped (MAX_MODELS_PER_SESSION)
            increments = {**increments, items.MODELS: pairs}
            if known_pairs is None:  # a first guess: every pair is new, unless the session names them all
                listed = " AND ".join(f"contains(#models, :pair{number})" for number in range(len(pairs)))
                cap = f"(attribute_not_exists(#models) OR size(#models) <= :room OR ({listed}))"
                room, checked = MAX_MODELS_PER_SESSION - len(pairs), sorted(pairs)
            else:  # the pairs the session was read to name are still there (the set never shrinks): exact
                checked = sorted(known_pairs & pairs)
                listed = "".join(f" AND contains(#models, :pair{number})" for number in range(len(checked)))
                cap = f"(attribute_not_exists(#models) OR size(#models) <= :room){listed}"
                room = MAX_MODELS_PER_SESSION - len(pairs - known_pairs)
            condition = f"{condition} AND {cap}" if condition else cap
            names_also = {**(names_also or {}), "#models": items.MODELS}
            values = {**(values or {}), ":room": room}
            values.update({f":pair{number}": pair for number, pair in enumerate(checked)})
        # Placeholders for the names: a per-model usage attribute's name is no expression token.
        names.update({f"#i{number}": name for number, name in enumerate(increments)})
        expression_values: dict[str, Any] = {f":i{number}": value for number, value in enumerate(increments.values())}
        for number, (path, value) in enumerate((sets or {}).items()):
            assignments.append(f"{path} = :set{number}")
            expression_values[f":set{number}"] = value
        names.update(names_also or {})
        expression_values.update(values or {})
        expression_values.update(
            {":now": iso(now), ":epoch": int(now.timestamp()), ":caller": caller, ":active": "active", ":one": 1}
        )
        adds = "".join(f", #i{number} :i{number}" for number in range(len(increments)))
        live = "attribute_exists(PK) AND user_id = :caller AND #status = :active AND expires_at > :epoch"
        return {
            "Update": {
                "TableName": self._table,
                "Key": items.session_key(session_id),
                "UpdateExpression": f"SET {', '.join(assignments)} ADD version :one{adds}",
                "ConditionExpression": f"{live} AND {condition}" if condition else live,
                "ExpressionAttributeNames": names,
                "ExpressionAttributeValues": serialize(expression_values),
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        }

    def _transact_activity(
        self, actions: list[dict[str, Any]], caller: str, guard: WriteGuard | None, ids: list[str], at: datetime
    ) -> None:
        """Run a transaction whose last action is :meth:`_session_update`; explain a failed condition.

        Raises :class:`_GuardHit` (see :meth:`_transact`), :class:`SessionNotFound`, :class:`SessionNotActive`."""
        try:
            self._transact(actions, guard, ids, at)
        except TransactionCanceled as canceled:
            if not self._is_live(canceled.item(-1), caller):
                raise SessionNotFound() from canceled
            if canceled.failed(-1):
                raise SessionNotActive() from canceled
            raise ServiceUnavailable() from canceled  # an id collision on a new item: retrying draws new ids

    def _add_cut(self, hot: dict[str, Any], first: str, last: str) -> tuple[dict[str, Any], str, dict[str, str]]:
        """The ``sets``, condition and names that record a cut of ``[first, last]`` in the hot item (see
        :mod:`session_service.items`). Raises :class:`ServiceUnavailable` while the session already holds
        :data:`~session_service.items.MAX_PENDING_CUTS` cuts (the stream function is deleting them)."""
        if len(hot.get("cuts") or {}) >= items.MAX_PENDING_CUTS:
            raise ServiceUnavailable("Deletions of this session are still being applied, retry later")
        sets = {"cuts.#cut": {"from": first, "to": last}, "cut_through": max(str(hot.get("cut_through", "")), last)}
        return sets, "size(cuts) < :max_cuts", {"#cut": uuid.uuid4().hex[:12]}

    def _find_message(self, session_id: str, message_id: str) -> dict[str, Any] | None:
        """A message item by id, in one consistent Query of LSI1 (DynamoDB fetches the attributes the index
        does not hold from the table in the same request); ``None`` when there is none."""
        try:
            message_id = str(uuid.UUID(message_id))
        except ValueError:
            return None
        response = dynamo.call(
            self._client,
            "query",
            TableName=self._table,
            IndexName=items.LSI_MESSAGE_ID,
            KeyConditionExpression=f"PK = :pk AND {items.LSI_MESSAGE_ID}SK = :id",
            ExpressionAttributeValues=serialize({":pk": items.session_pk(session_id), ":id": message_id}),
            Select="ALL_ATTRIBUTES",
            ConsistentRead=True,
        )
        found = [deserialize(raw) for raw in response.get("Items", [])]
        return found[0] if found else None

    def _find_messages(self, session_id: str, message_ids: Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """:meth:`_find_message` of each id, concurrently: id -> its message item or ``None``."""
        return dict(zip(message_ids, _READS.map(partial(self._find_message, session_id), message_ids), strict=True))

    @staticmethod
    def _shows(hot: dict[str, Any], message: dict[str, Any]) -> bool:
        """True when ``message`` belongs to the session ``hot`` describes (its incarnation) and no cut hides
        it."""
        return str(message["created_at"]) >= str(hot["created_at"]) and items.visible(str(message["SK"]), hot)

    def _message(self, session_id: str, caller: str, message_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """The caller's live session's hot item and one of its messages (GetItem and a Query of LSI1, run
        concurrently). Raises :class:`SessionNotFound`, :class:`MessageNotFound`."""
        found = _READS.submit(self._find_message, session_id, message_id)  # both reads in one round trip's time
        hot = self._hot(session_id, caller)
        item = found.result()
        if item is None or not self._shows(hot, item):
            raise MessageNotFound()
        return hot, item

    def _with_content(self, message: dict[str, Any]) -> dict[str, Any]:
        """``message`` with its content so far: a reply still streaming adds its chunks (one Query of its
        chunk range); any other message is returned as it is."""
        if not items.is_streaming(message) or not int(message.get("chunks", 0)):
            return message
        first, last = items.chunk_range(str(message["SK"]))
        chunks = dynamo.query_all(
            self._client,
            {
                "TableName": self._table,
                "KeyConditionExpression": "PK = :pk AND SK BETWEEN :first AND :last",
                "ExpressionAttributeValues": serialize({":pk": message["PK"], ":first": first, ":last": last}),
                "ProjectionExpression": "content",
                "ConsistentRead": True,
            },
        )
        return {**message, "content": str(message["content"]) + "".join(str(c["content"]) for c in chunks)}

    def get_message(self, session_id: str, caller: str, message_id: str) -> Message:
        """One message of the caller's live session, with its content so far when it is a streamed reply.

        GetItem hot + one Query of LSI1. Raises :class:`SessionNotFound`, :class:`MessageNotFound`.
        """
        _, item = self._message(session_id, caller, message_id)
        return items.message_from_item(self._with_content(item))

    def _change_message(
        self, session_id: str, caller: str, message_id: str, plan: Callable[[dict[str, Any], dict[str, Any]], _Plan]
    ) -> _Plan:
        """Apply one change of a message with the session's counters in one transaction, retried from a fresh
        read when the message or the session's cuts changed meanwhile.

        ``plan(hot, message)`` decides the change from what is stored. The message's action is conditioned
        on its ``version``; the session's update on ``cut_count`` (no truncation since the read), so the
        counters move exactly once for exactly the messages that exist. Raises :class:`SessionNotFound`,
        :class:`MessageNotFound`, :class:`SessionNotActive`, what ``plan`` raises, and
        :class:`ServiceUnavailable` when the message keeps changing.
        """
        for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
            hot, item = self._message(session_id, caller, message_id)
            if hot["status"] != SessionStatus.ACTIVE:
                raise SessionNotActive()
            change = plan(hot, item)
            if not change.actions:
                return change
            sets, condition, names = dict(change.hot_sets), "cut_count = :cut_count", dict[str, str]()
            values: dict[str, Any] = {":cut_count": int(hot.get("cut_count", 0))}
            if change.cut is not None:
                cut_sets, cut_condition, names = self._add_cut(hot, *change.cut)
                sets.update(cut_sets)
                condition = f"{condition} AND {cut_condition}"
                values[":max_cuts"] = items.MAX_PENDING_CUTS
            update = self._session_update(
                session_id,
                caller,
                self._clock(),
                change.increments,
                sets=sets,
                condition=condition,
                values=values,
                names_also=names,
                known_pairs=set(hot.get(items.MODELS, set())),  # as read: the set never shrinks
            )
            try:
                dynamo.transact_write(self._client, [*change.actions, update])
            except TransactionCanceled as canceled:
                if canceled.failed(-1) and not self._is_live(canceled.item(-1), caller):
                    raise SessionNotFound() from canceled
                if canceled.failed(-1) and _over_model_cap(canceled.item(-1), change.increments):
                    raise TooManyModels() from canceled
                continue  # the message, the session's cuts or its status changed: decide again
            return change
        raise ServiceUnavailable()

    def _message_action(self, item: dict[str, Any], action: str, **kwargs: Any) -> dict[str, Any]:
        """A transaction's ``Update`` or ``Delete`` of a message item, conditioned on its ``version``."""
        values = serialize({":version": int(item["version"]), **kwargs.pop("values", {})})
        return {
            action: {
                "TableName": self._table,
                "Key": items.key(str(item["PK"]), str(item["SK"])),
                "ConditionExpression": "version = :version",
                "ExpressionAttributeValues": values,
                **kwargs,
            }
        }

    def update_message(self, session_id: str, caller: str, message_id: str, request: MessageUpdate) -> Message:
        """Change a message (SPEC section 8): its ``metadata``, ``provider``, ``model``, or its ``content``,
        ``tokens_used`` and ``cost_usd`` (the session's counters move by the difference in the same
        transaction); or finalize a streamed reply with ``status`` (its chunks become its content, its tokens
        and cost count from now on). A change that changes nothing writes nothing.

        Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
        :class:`MessageConflict` (a reply in progress changed without finalizing it, or a finalized one
        finalized differently), :class:`ServiceUnavailable`.
        """

        def plan(hot: dict[str, Any], item: dict[str, Any]) -> _Plan:
            given = {name: getattr(request, name) for name in type(request).model_fields}
            given = {name: value for name, value in given.items() if value is not None}
            if "metadata" in given:
                given["metadata"] = dump_json(given["metadata"])
            if "status" in given:
                given["status"] = given["status"].value
            streaming = items.is_streaming(item)
            cut = None
            if streaming and "status" in given:  # the chunks so far become the content
                given = {"content": self._with_content(item)["content"], "tokens_used": 0, "cost_usd": 0, **given}
                if int(item.get("chunks", 0)):
                    cut = items.chunks_cut(str(item["SK"]))
            elif streaming and given.keys() & {"content", "tokens_used", "cost_usd"}:
                raise MessageConflict("The reply is in progress: finalize it with status completed or incomplete")
            changed = {name: value for name, value in given.items() if item.get(name) != value}
            if "status" in given and not streaming and changed:
                raise MessageConflict(f"The reply was finalized as {item['status']} with other values")
            if not changed:
                return _Plan(item)
            if "content" in changed:
                changed["content_bytes"] = len(str(changed["content"]).encode("utf-8"))
            names = {f"#f{number}": name for number, name in enumerate(changed)}
            values = {f":f{number}": value for number, value in enumerate(changed.values())}
            assignments = ", ".join(f"#f{number} = :f{number}" for number in range(len(changed)))
            action = self._message_action(
                item,
                "Update",
                UpdateExpression=f"SET {assignments} ADD version :one",
                ExpressionAttributeNames=names,
                values={**values, ":one": 1},
            )
            increments = {
                "total_tokens": int(changed.get("tokens_used", item["tokens_used"])) - int(item["tokens_used"]),
                "total_cost": Decimal(changed.get("cost_usd", item["cost_usd"])) - Decimal(item["cost_usd"]),
            }
            stored = {**item, **changed, "version": int(item["version"]) + 1}
            # The message leaves its (provider, model) row and joins its new one, with its new tokens and cost.
            increments.update(items.sum_usage(items.message_usage(item, -1), items.message_usage(stored)))
            return _Plan(stored, [action], {k: v for k, v in increments.items() if v}, cut=cut)

        return items.message_from_item(self._change_message(session_id, caller, message_id, plan).message)

    def delete_message(self, session_id: str, caller: str, message_id: str) -> int:
        """Delete one message and take it off the session's counters in one transaction (its reserved id and,
        for a streamed reply, its chunks go with it: the chunks by a cut). Returns 1.

        Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
        :class:`ServiceUnavailable`.
        """

        def plan(hot: dict[str, Any], item: dict[str, Any]) -> _Plan:
            actions = [self._message_action(item, "Delete")]
            if item.get("body_hash") is not None:
                actions.append(
                    {
                        "Delete": {
                            "TableName": self._table,
                            "Key": items.message_id_key(session_id, str(item["message_id"])),
                        }
                    }
                )
            increments = {
                "message_count": -1,
                "total_tokens": -int(item["tokens_used"]),
                "total_cost": -Decimal(item["cost_usd"]),
                **items.message_usage(item, -1),
            }
            streamed = items.is_streaming(item) and int(item.get("chunks", 0))  # a finalized reply's chunks are cut
            cut = items.chunks_cut(str(item["SK"])) if streamed else None
            return _Plan(item, actions, increments, cut=cut)

        self._change_message(session_id, caller, message_id, plan)
        return 1

    def truncate_after(self, session_id: str, caller: str, message_id: str) -> int:
        """Delete every message after ``message_id`` (to regenerate a reply); return how many.

        Reads the tail's sort keys, tokens and costs (Queries of the visible messages after it), then one
        conditional UpdateItem of the session: the counters drop by the tail's sums and the tail's key range
        becomes a cut, hidden from every reader at once; the stream function deletes its items in the
        background (so the answer does not wait for thousands of deletes). Conditioned on the session's
        ``version``: a change in between (an append, an edit) makes it read the tail again.
        Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
        :class:`ServiceUnavailable`.
        """
        for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
            hot, item = self._message(session_id, caller, message_id)
            if hot["status"] != SessionStatus.ACTIVE:
                raise SessionNotActive()
            after = items.after_message(str(item["SK"]))
            query = items.messages_query(self._table, hot, newest_first=False, first=after)
            query["ProjectionExpression"] = "SK, tokens_used, cost_usd, #provider, #model"
            query["ExpressionAttributeNames"] = {"#provider": "provider", "#model": "model"}
            tail = [row for row in dynamo.query_all(self._client, query) if items.visible(str(row["SK"]), hot)]
            if not tail:
                return 0
            sets, condition, names = self._add_cut(hot, after, items.message_range(str(tail[-1]["SK"]))[1])
            increments = {
                "message_count": -len(tail),
                "total_tokens": -sum(int(row["tokens_used"]) for row in tail),
                "total_cost": -sum((Decimal(row["cost_usd"]) for row in tail), Decimal(0)),
                "cut_count": 1,
                **items.sum_usage(*(items.message_usage(row, -1) for row in tail)),
            }
            update = self._session_update(
                session_id,
                caller,
                self._clock(),
                increments,
                sets=sets,
                condition=f"version = :version AND {condition}",
                values={":version": int(hot["version"]), ":max_cuts": items.MAX_PENDING_CUTS},
                names_also=names,
            )["Update"]
            del update["ReturnValuesOnConditionCheckFailure"]  # conditional() asks for the old item itself
            try:
                dynamo.conditional(self._client, "update_item", **update)
            except ConditionFailed as failed:
                if not self._is_live(failed.item, caller):
                    raise SessionNotFound() from failed
                continue  # the session changed since the tail was read
            return len(tail)
        raise ServiceUnavailable()

    def add_chunk(self, session_id: str, caller: str, message_id: str, request: ChunkCreate) -> Message:
        """Append chunk ``request.index`` to a streamed reply; return the reply with its content so far.

        One transaction: Put the chunk (its own item, so a chunk costs what it weighs), count it on the
        message (``chunks = index``: consecutive indexes only), and record activity on the session. A
        repeated index with the same content writes nothing. Raises :class:`SessionNotFound`,
        :class:`MessageNotFound`, :class:`SessionNotActive`, :class:`MessageConflict` (a gap, another content
        for an index, or a reply already finalized), :class:`PayloadTooLarge` (past 256 KiB of content).
        """
        cut_count: int | None = None
        for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
            item = self._find_message(session_id, message_id)
            if item is None or item.get("user_id") != caller:
                self._hot(session_id, caller)  # a session missing or another user's answers as on every route
                raise MessageNotFound()
            count = int(item.get("chunks", 0))
            size = len(request.content.encode("utf-8"))
            too_big = int(item.get("content_bytes", 0)) + size > MAX_MESSAGE_BYTES
            if not items.is_streaming(item) or request.index != count or too_big:
                # Answered without writing: first, as every read does, the session must be live and show it.
                hot = self._hot(session_id, caller)
                if not self._shows(hot, item):
                    raise MessageNotFound()
            if not items.is_streaming(item):
                raise MessageConflict(f"The reply is finalized ({item['status']}): it takes no more chunks")
            if request.index < count:
                stored = self._stored_chunk(item, request.index)
                if stored is None or stored.get("content") != request.content:
                    raise MessageConflict(f"Chunk {request.index} was stored with other content")
                return items.message_from_item(self._with_content(item))
            if request.index > count:
                raise MessageConflict(f"Chunk {request.index} does not follow: the next index is {count}")
            if int(item.get("content_bytes", 0)) + size > MAX_MESSAGE_BYTES:
                raise PayloadTooLarge(f"The reply would exceed {MAX_MESSAGE_BYTES} bytes of content")
            chunk = items.chunk_item(item, request.index, request.content)
            count_it = self._message_action(
                item,
                "Update",
                UpdateExpression="ADD chunks :one, content_bytes :size, version :one",
                values={":one": 1, ":size": size},
            )
            # The message is of this incarnation and not deleted: above every cut, or (once a cut lies above
            # it) outside the cuts of the session as read, with no truncation since.
            condition = "created_at <= :born AND (attribute_not_exists(cut_through) OR cut_through < :sk)"
            values: dict[str, Any] = {":born": item["created_at"], ":sk": item["SK"]}
            if cut_count is not None:
                condition = "created_at <= :born AND cut_count = :cut_count"
                values = {":born": item["created_at"], ":cut_count": cut_count}
            activity = self._session_update(session_id, caller, self._clock(), {}, condition=condition, values=values)
            try:
                dynamo.transact_write(self._client, [self._put_new(chunk), count_it, activity])
            except TransactionCanceled as canceled:
                if canceled.failed(-1):
                    cut_count = self._explain_chunk_refusal(session_id, caller, message_id, canceled.item(-1))
                continue  # another chunk or a change of the message came first: decide again
            grown = {**item, "chunks": count + 1, "version": int(item["version"]) + 1}
            return items.message_from_item(self._with_content(grown))
        raise ServiceUnavailable()

    def _explain_chunk_refusal(self, session_id: str, caller: str, message_id: str, hot: dict[str, Any] | None) -> int:
        """Raise why the session refused a chunk: gone, not active, or the message deleted by a cut. When none
        of these holds, a cut of other messages lies above the reply (a later message deleted, a later reply
        finalized, a truncation after a later message): return the session's ``cut_count``, on which the next
        attempt is conditioned instead."""
        if not self._is_live(hot, caller) or hot is None:
            raise SessionNotFound()
        if hot.get("status") != SessionStatus.ACTIVE:
            raise SessionNotActive()
        item = self._find_message(session_id, message_id)
        if item is None or not self._shows(hot, item):
            raise MessageNotFound()
        return int(hot.get("cut_count", 0))

    def _stored_chunk(self, message: dict[str, Any], index: int) -> dict[str, Any] | None:
        """Chunk ``index`` of a streamed reply as stored (consistent GetItem), or ``None``."""
        response = dynamo.call(
            self._client,
            "get_item",
            TableName=self._table,
            Key=items.key(str(message["PK"]), items.chunk_sk(str(message["SK"]), index)),
            ConsistentRead=True,
        )
        return deserialize(response["Item"]) if response.get("Item") else None

    def list_messages(
        self,
        session_id: str,
        caller: str,
        *,
        order: MessageOrder = MessageOrder.ASC,
        page: int = 1,
        page_size: int = 100,
        next_token: str | None = None,
    ) -> MessageList:
        """A page of the session's messages, oldest first (``asc``) or newest first (``desc``).

        Each page reads the hot item (owner, expiry, cuts, ``total``) and Queries the visible messages: two
        round trips (a third per streamed reply in progress on the page, for its chunks). A ``next_token``
        continues in the same order at the same cost. Raises :class:`SessionNotFound`,
        :class:`~session_service.errors.InvalidCursor`.
        """
        scope = f"messages|{session_id}|{caller}|{order.value}|{page_size}"
        start_key, skip, incarnation = None, (page - 1) * page_size, None
        if next_token:
            position = self._cursors.decode(scope, next_token)
            start_key, skip, page, incarnation = position["k"], 0, int(position["p"]), position["c"]
        hot = self._hot(session_id, caller)
        if incarnation is not None and hot["created_at"] != incarnation:
            raise InvalidCursor()  # issued for an earlier session of this id, which expired
        query = items.messages_query(self._table, hot, newest_first=order is MessageOrder.DESC)
        result = dynamo.query_page(
            self._client,
            query,
            skip=skip,
            take=page_size,
            start_key=start_key,
            keep=lambda raw: items.visible(raw["SK"]["S"], hot),
        )
        cursor = None
        if result.last_evaluated:
            cursor = self._cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1, "c": hot["created_at"]})
        return MessageList(
            messages=[items.message_from_item(self._with_content(deserialize(raw))) for raw in result.items],
            total=int(hot["message_count"]),
            page=page,
            page_size=page_size,
            next_token=cursor,
        )

    def get_context(self, session_id: str, caller: str, *, max_tokens: int, max_messages: int) -> Context:
        """The summary and the newest messages whose ``tokens_used`` fit ``max_tokens`` and whose number fits
        ``max_messages``, oldest first (SPEC section 3); a reply still streaming shows its content so far.

        One BatchGetItem (hot item and summary), then Queries newest first that read what is returned plus one
        message (to tell ``truncated``): the first asks for at most 21 items, later ones twice as many, so the
        cost grows with what is returned, never with the conversation. Raises :class:`SessionNotFound`.
        """
        hot, summary = self._hot_and_summary(session_id, caller)
        query = items.messages_query(self._table, hot, newest_first=True)
        taken: list[Message] = []
        tokens, truncated, start_key, limit = 0, False, None, min(max_messages + 1, 21)
        for _ in range(dynamo.MAX_QUERY_ROUND_TRIPS):
            kwargs = dict(query, Limit=limit)
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            response = dynamo.call(self._client, "query", **kwargs)
            for raw in response.get("Items", []):
                item = deserialize(raw)
                if not items.visible(str(item["SK"]), hot):
                    continue
                if len(taken) == max_messages or tokens + int(item["tokens_used"]) > max_tokens:
                    truncated = True
                    break
                taken.append(items.message_from_item(self._with_content(item)))
                tokens += taken[-1].tokens_used
            start_key = response.get("LastEvaluatedKey")
            if truncated or not start_key:
                break
            limit = min(max_messages + 1 - len(taken), 2 * limit, 1000)
        return Context(
            session_id=session_id,
            summary=items.summary_text(hot, summary),
            messages=taken[::-1],
            tokens=tokens,
            truncated=truncated,
        )

    # -- memory records -------------------------------------------------------------------------------

    def add_memory(
        self, session_id: str, caller: str, request: MemoryCreate, guard: WriteGuard | None = None
    ) -> Memory:
        """Store a memory record and count it on the session (``has_memory``) in one transaction.

        With a ``guard``, a retry of an add that was applied returns that record and writes nothing.
        Raises :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`IdempotencyKeyReused`.
        """
        now, memory_id = self._clock(), self._new_id()
        item = items.memory_item(session_id, caller, memory_id, request, now)
        counts = {items.memory_count_attribute(None): 1, items.memory_count_attribute(request.memory_type): 1}
        actions = [self._put_new(item), self._session_update(session_id, caller, now, counts)]
        try:
            self._transact_activity(actions, caller, guard, [memory_id], now)
        except _GuardHit as hit:
            item = items.memory_item(session_id, caller, hit.ids[0], request, hit.at)
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
        every matching record (the hot item keeps a count per type), not just this page.
        Raises :class:`SessionNotFound`, :class:`~session_service.errors.InvalidCursor`.
        """
        hot = self._hot(session_id, caller)
        prefix = items.memory_prefix(memory_type)
        scope = f"memory|{session_id}|{caller}|{prefix}|{page_size}"
        start_key = self._cursors.decode(scope, next_token)["k"] if next_token else None
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            # Records of an expired earlier session that reused the id wait for the stream's clean-up.
            "FilterExpression": "created_at >= :incarnation",
            "ExpressionAttributeValues": serialize(
                {":pk": items.session_pk(session_id), ":prefix": prefix, ":incarnation": hot["created_at"]}
            ),
            "ConsistentRead": True,
        }
        result = dynamo.query_page(self._client, query, skip=0, take=page_size, start_key=start_key)
        return MemoryList(
            memories=[items.memory_from_item(deserialize(raw)) for raw in result.items],
            total=int(hot.get(items.memory_count_attribute(memory_type), 0)),
            next_token=self._cursors.encode(scope, {"k": result.last_evaluated}) if result.last_evaluated else None,
        )

    # -- export ---------------------------------------------------------------------------------------

    def export_user(self, caller: str, page_size: int, next_token: str | None = None) -> tuple[list[str], str | None]:
        """A page of the caller's data (SPEC section 9, GDPR article 15): ``(lines, next_token)``, each line the
        JSON of a session, message or memory record as the API returns it plus ``type``
        (:func:`~session_service.models.export_line`); ``next_token`` is ``None`` on the last page.

        Every record of the caller's sessions appears exactly once across the pages, while the caller keeps
        writing: the pages go through the sessions in ``session_id`` order (GSI1's sort key, activity, moves
        while they chat; an id does not), each session as its line, its visible messages oldest first (a
        reply still streaming with its content so far), then its memory records; the cursor names the session,
        the part and the last sort key emitted. A record written behind the cursor is not in the export (it
        did not exist when the export passed there); one ahead of it is. A session expired or deleted is left
        out, as is one whose id was taken over by a new session while a page stopped inside it.

        Each page Queries GSI1 for the caller's session keys (keys only), then reads only what it emits: per
        session one consistent Query of its hot, data and summary items (a GetItem of the hot item where a
        page resumes inside it) and Queries of its messages and memory records whose ``Limit`` is what the
        page still takes. A page holds ``page_size`` lines, fewer when the next line would take it past
        :data:`MAX_EXPORT_PAGE_BYTES` (Lambda's 6 MB response), and may be empty when the previous one ended
        exactly at the end. Raises :class:`~session_service.errors.InvalidCursor` for a cursor altered or
        issued for another caller.
        """
        scope = f"export|{caller}"
        position = self._export_position(scope, next_token) if next_token else None
        if self._erasing(caller):  # gone for every reader from the moment the erasure was accepted
            return [], None
        page = _ExportPage(page_size, MAX_EXPORT_PAGE_BYTES)
        for session_id in self._session_ids(caller):
            if position is not None and session_id < position["s"]:
                continue
            resume = position if position is not None and session_id == position["s"] else None
            stop = self._export_session(session_id, caller, resume, page)
            if stop is not None:
                return page.taken, self._cursors.encode(scope, stop)
        return page.taken, None

    def _export_position(self, scope: str, token: str) -> dict[str, Any]:
        """The position an export cursor holds: ``s`` session id, ``c`` its incarnation, ``p`` the part
        (:data:`EXPORT_PARTS`), ``k`` the last sort key emitted in it. Raises :class:`InvalidCursor`."""
        position = self._cursors.decode(scope, token)
        shaped = (
            isinstance(position.get("s"), str)
            and isinstance(position.get("c"), str)
            and position.get("p") in EXPORT_PARTS
            and (position.get("k") is None or isinstance(position.get("k"), str))
        )
        if not shaped:  # pragma: no cover - only a key holder could sign another shape
            raise InvalidCursor()
        return position

    def _session_ids(self, caller: str) -> list[str]:
        """The ids of the caller's sessions in GSI1 (keys only, every page of it), in ``session_id`` order."""
        query = {**items.user_sessions_query(self._table, caller), "ProjectionExpression": "PK"}
        ids = {items.session_id_of(str(row["PK"])) for row in dynamo.query_all(self._client, query)}
        return sorted(session_id for session_id in ids if session_id)

    def _export_session(
        self, session_id: str, caller: str, resume: dict[str, Any] | None, page: _ExportPage
    ) -> dict[str, Any] | None:
        """Add what is left of one session to ``page`` (all of it, or from the ``resume`` position); return
        the position to continue from when the page filled, ``None`` when the session is done or not live."""
        if resume is None or resume["p"] == "session":
            found = self._session_parts(session_id)
            hot = found.get(items.SESSION_SK)
            if hot is None or not self._is_live(hot, caller):
                return None
            at = {"s": session_id, "c": str(hot["created_at"])}
            session = items.session_from_items(hot, found.get(items.DATA_SK), found.get(items.SUMMARY_SK))
            if not page.add(export_line(Line.SESSION, session)):
                return {**at, "p": "session", "k": None}
            part, after = "messages", None
        else:
            try:
                hot = self._hot(session_id, caller)
            except SessionNotFound:
                return None  # expired or deleted since the last page
            if hot["created_at"] != resume["c"]:
                return None  # expired, and its id taken by a session created after the export began
            at, part, after = {"s": session_id, "c": resume["c"]}, str(resume["p"]), resume["k"]
        if part == "messages":
            done, after = self._export_messages(hot, page, after)
            if not done:
                return {**at, "p": "messages", "k": after}
            after = None
        done, after = self._export_memories(hot, page, after)
        return None if done else {**at, "p": "memory", "k": after}

    def _export_messages(self, hot: dict[str, Any], page: _ExportPage, after: str | None) -> tuple[bool, str | None]:
        """Add the session's visible messages above sort key ``after`` to ``page``, oldest first; return whether
        they all fit, and the sort key of the last one added (``after`` when none was). Cuts are skipped by
        key (:func:`~session_service.items.past_cuts`), not read."""
        first = items.after_message(after) if after else items.message_start(str(hot["created_at"]))
        while page.room > 0:
            query = items.messages_query(self._table, hot, newest_first=False, first=items.past_cuts(first, hot))
            response = dynamo.call(self._client, "query", **query, Limit=min(page.room, 1000))
            rows = [deserialize(raw) for raw in response.get("Items", [])]
            for item in rows:
                if not items.visible(str(item["SK"]), hot):
                    continue
                if not page.add(export_line(Line.MESSAGE, items.message_from_item(self._with_content(item)))):
                    return False, after
                after = str(item["SK"])
            if "LastEvaluatedKey" not in response:
                return True, after
            first = items.after_message(str(rows[-1]["SK"]))
        return False, after

    def _export_memories(self, hot: dict[str, Any], page: _ExportPage, after: str | None) -> tuple[bool, str | None]:
        """Add the session's memory records above sort key ``after`` to ``page`` (by type, then oldest first);
        return whether they all fit, and the sort key of the last one added (``after`` when none was)."""
        partition = items.session_pk(str(hot["session_id"]))
        query: dict[str, Any] = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk AND begins_with(SK, :prefix)",
            # Records of an expired earlier session that reused the id wait for the stream's clean-up.
            "FilterExpression": "created_at >= :incarnation",
            "ExpressionAttributeValues": serialize(
                {":pk": partition, ":prefix": items.memory_prefix(None), ":incarnation": hot["created_at"]}
            ),
            "ConsistentRead": True,
        }
        start_key = items.key(partition, after) if after else None
        while page.room > 0:
            kwargs = dict(query, Limit=min(page.room, 1000))
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            response = dynamo.call(self._client, "query", **kwargs)
            for item in map(deserialize, response.get("Items", [])):
                if not page.add(export_line(Line.MEMORY, items.memory_from_item(item))):
                    return False, after
                after = str(item["SK"])
            start_key = response.get("LastEvaluatedKey")
            if not start_key:
                return True, after
        return False, after

    # -- statistics and health ------------------------------------------------------------------------

    # -- erasure (SPEC section 9) ----------------------------------------------------------------------

    def erase_user(self, caller: str) -> None:
        """DELETE /users/{user_id}: erase everything of ``caller`` (GDPR article 17); returns at once.

        One transaction: the erasure's progress record (``status`` erasing; conditioned on no erasure of the
        user running, so a repeated request writes nothing) and :data:`~session_service.items.ERASING` on the
        caller's counts item. From then on every reader of the caller's data reads that mark and finds nothing
        (:meth:`_session_items`, the listing), and a create is refused (:class:`UserErasing`). The stream
        function does the rest in the background, driven by the progress record's own stream records
        (:mod:`session_service.erasure`): it turns the user's sessions into tombstones, lets the session
        clean-up delete their items, then deletes the user's counts, usage and idempotency records, and marks
        the record ``erased``. Raises :class:`ServiceUnavailable` when DynamoDB keeps refusing.
        """
        now = self._clock()
        progress = self._put(
            items.erasure_item(caller, now),
            "attribute_not_exists(PK) OR #status = :erased",
            {":erased": ErasureStatus.ERASED.value},
        )
        progress["Put"]["ExpressionAttributeNames"] = {"#status": "status"}
        mark = {
            "Update": {
                "TableName": self._table,
                "Key": items.user_counts_key(caller),
                "UpdateExpression": f"SET {items.ERASING} = if_not_exists({items.ERASING}, :now)",
                "ExpressionAttributeValues": serialize({":now": iso(now)}),
            }
        }
        try:
            dynamo.transact_write(self._client, [progress, mark])
        except TransactionCanceled as canceled:
            if not canceled.failed(0):
                raise ServiceUnavailable() from canceled
            # An erasure of the caller runs already: this request is that one.

    def erasure(self, caller: str) -> Erasure:
        """GET /users/{user_id}/erasure: the progress of the caller's latest erasure (one consistent GetItem).

        Raises :class:`ErasureNotFound` when none was asked for (or its record expired, 30 days after it
        finished)."""
        response = dynamo.call(
            self._client, "get_item", TableName=self._table, Key=items.erasure_key(caller), ConsistentRead=True
        )
        if not response.get("Item"):
            raise ErasureNotFound()
        item = deserialize(response["Item"])
        return Erasure(user_id=caller, status=ErasureStatus(item["status"]), items_deleted=int(item["items_deleted"]))

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

    def get_usage(self, user_id: str) -> Usage:
        """The user's usage as the stream function keeps it (:class:`~session_service.models.Usage`): one Query of
        the user's partition (eventually consistent: the stream writes it, not the request) reads the usage item
        (totals), the per-model usage items (``MODEL#<hash>``, each its pair, messages, tokens and cost) and the
        counts. No usage item (no session ever counted) is all zeros. The row of the messages naming neither
        provider nor model is the totals minus the named rows, made here; rows are ordered by
        :func:`_usage_order`. While the user's data is being erased, the counts item says so and usage is zeros:
        gone for every reader (SPEC section 9)."""
        query = {
            "TableName": self._table,
            "KeyConditionExpression": "PK = :pk",
            "ExpressionAttributeValues": serialize({":pk": items.user_pk(user_id)}),
        }
        found = dynamo.query_all(self._client, query)
        counts = next((item for item in found if item["SK"] == items.COUNTS_SK), None)
        if items.erasing(counts):
            found = []
        values = next((item for item in found if item["SK"] == items.USAGE_SK), {})
        totals: dict[str, Any] = {
            "messages": int(values.get("messages", 0)),
            "tokens": int(values.get("tokens", 0)),
            "cost": Decimal(values.get("cost", 0)),
        }
        named = []
        for item in found:
            if str(item["SK"]).startswith(items.MODEL_USAGE_PREFIX):
                provider, model = json.loads(str(item["pair"]))
                row = {name: item.get(name, 0) for name in ("messages", "tokens", "cost")}
                if any(row.values()):
                    named.append(ModelUsage(provider=provider, model=model, **row))
        rest = {name: total - sum(getattr(row, name) for row in named) for name, total in totals.items()}
        if any(rest.values()):
            named.append(ModelUsage(provider=None, model=None, **rest))
        named.sort(key=_usage_order)
        return Usage(
            user_id=user_id,
            sessions=int(values.get("sessions", 0)),
            active_sessions=int(values.get("active_sessions", 0)),
            by_model=named,
            **totals,
        )

    def ping(self) -> bool:
        """True when the table answers a read (used by ``GET /health/detailed``)."""
        return dynamo.answers(self._client, self._table, items.STATS_KEY)
