"""Messages: append (one or a batch), get, update, delete, truncate, list, and the context window.

Every write moves the session's counters in the same transaction as the messages
(:class:`~session_service.data.actions.SessionActivity`), so a reader never sees one without the other; deletions
*cut* key ranges that readers skip at once and the stream function deletes later (:mod:`session_service.rules`).
"""

from __future__ import annotations

import hashlib
import json
import uuid
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service import rules
from session_service.data import dynamo, reads
from session_service.data.actions import Action, Delete, MessageChange, Put, PutNew, SessionActivity, transact
from session_service.data.dynamo import ConditionFailed, TransactionCanceled, deserialize
from session_service.data.guard import GuardHit, WriteGuard, transact_guarded
from session_service.data.items import is_streaming, message_from_item, message_id_item, message_item, summary_text
from session_service.data.keys import after_message, message_id_key, message_range, parse_iso
from session_service.data.reads import messages_query
from session_service.data.stats import MODELS, message_usage, pairs_named, sum_usage, usage_increments
from session_service.errors import (
    DeletionsPending,
    InvalidCursor,
    MessageConflict,
    MessageNotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    SessionNotActive,
    SessionNotFound,
    TooManyModels,
)
from session_service.models import (
    Context,
    Message,
    MessageCreate,
    MessageList,
    MessageOrder,
    MessageUpdate,
    SessionStatus,
    dump_json,
)
from session_service.operations import Store


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
    ``hot_sets`` what else the session's update sets."""

    message: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    increments: dict[str, Any] = field(default_factory=dict)
    hot_sets: dict[str, Any] = field(default_factory=dict)


def _request_hash(request: MessageCreate) -> str:
    """SHA-256 of an append's body as validated (canonical JSON): what a repeated append is compared with."""
    body = json.dumps(request.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


BATCH_GROUP_MESSAGES = (dynamo.MAX_TRANSACTION_ITEMS - 2) // 2
"""Messages of one transaction of a batch written in several (:func:`append_messages`): each message and its
``MID#`` reservation are two items; the session's update and the write guard fill the 100 (an AWS limit)."""
SESSION_WRITE_BYTES = 1024
"""What a batch keeps below :data:`~session_service.data.dynamo.MAX_TRANSACTION_BYTES` (4,000,000 bytes) for the
session's update and the write guard. DynamoDB's limit is 4 MiB (4,194,304 bytes; DynamoDB Local refuses 4.39 MB
and takes 4.09 MB), so a batch at the bound leaves about 190 KB for them: the hot item at its largest (16
provider/model pairs of 128 four-byte characters, 20 pending cuts) is about 18 KB, a guard naming 98 ids about
4 KB (``tests/integration/test_transaction_limits_local.py`` writes that worst case)."""


def _transaction_items(requests: Sequence[MessageCreate], guard: WriteGuard | None) -> int:
    """The items one transaction of ``requests`` takes: each message, each ``MID#`` reservation, the session's
    update and the guard."""
    return len(requests) + sum(1 for r in requests if r.message_id) + 1 + (guard is not None)


def _batch_ids(store: Store, requests: Sequence[MessageCreate], split: bool) -> list[str]:
    """The ids of a batch's messages: the client's, else drawn; in a batch written in several transactions, a
    message without one gets an id derived from the whole batch (which names client ids, unique in the
    session), so a retry of the same batch finds it by id and writes it once."""
    if not split:
        return [request.message_id or store.new_id() for request in requests]
    batch = [request.model_dump(mode="json") for request in requests]
    digest = hashlib.sha256(json.dumps(batch, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
    return [r.message_id or str(uuid.uuid5(uuid.NAMESPACE_OID, f"{digest}:{i}")) for i, r in enumerate(requests)]


def append_messages(
    store: Store, session_id: str, caller: str, requests: Sequence[MessageCreate], guard: WriteGuard | None = None
) -> Appended:
    """Store messages and add their counts to the session: in one transaction (all or nothing) when they fit
    one (100 items, an AWS limit: a message, its ``MID#`` reservation when the client chose its id, the
    session's update and the write guard), else in consecutive transactions of
    :data:`BATCH_GROUP_MESSAGES`, in order.

    The hot item's ``message_count``, ``total_tokens``, ``total_cost``, ``last_activity`` and
    ``expires_at`` move with the messages: a reader never sees one without the other, and concurrent
    appends lose nothing (``ADD`` is atomic; conflicting transactions are retried). Nothing else is
    written: no index key moves (the stream function moves them once per batch).
    With a ``guard`` (an ``Idempotency-Key``), a retry of an append that was applied returns its messages
    (same ids and times) and writes nothing. A ``message_id`` the client chose is reserved in the same
    transaction: when every message of a repeated request names its id and its stored body is the same,
    the stored messages are returned with ``created`` false and nothing is written (SPEC section 8).
    In a batch written in several transactions every message is reserved (one without a client id by an id
    derived from the batch, :func:`_batch_ids`); a failure after the first transaction leaves the batch's
    first transactions stored and counted, and the same batch again finds them and writes the rest (``created``
    true), or finds all of it (``created`` false).
    Raises :class:`SessionNotFound`, :class:`SessionNotActive`,
    :class:`~session_service.errors.IdempotencyKeyReused`, :class:`MessageConflict` (an id in use with another
    body), :class:`TooManyModels` (the session would name more than ``MAX_MODELS_PER_SESSION`` provider/model
    pairs), or :class:`PayloadTooLarge` (before any write) when the messages and their reservations exceed what
    one transaction carries (4 MB, an AWS limit, less :data:`SESSION_WRITE_BYTES`).
    """
    now = store.clock()
    split = _transaction_items(requests, guard) > dynamo.MAX_TRANSACTION_ITEMS
    ids = _batch_ids(store, requests, split)
    hashes = [_request_hash(r) if r.message_id or split else None for r in requests]
    if rules.over_model_cap(None, _increments(requests)):
        raise TooManyModels()
    planned = _message_items(session_id, caller, requests, ids, now, hashes)
    reserved = [message_id_item(session_id, i["message_id"], i["SK"], i["created_at"]) for i in planned]
    payload = sum(dynamo.item_size(item) for item in planned)
    payload += sum(dynamo.item_size(item) for item, digest in zip(reserved, hashes, strict=True) if digest)
    # DynamoDB refuses a larger transaction with a ValidationException (a 500).
    if payload > dynamo.MAX_TRANSACTION_BYTES - SESSION_WRITE_BYTES:
        raise PayloadTooLarge()
    if not split:
        chosen = [message_id for message_id, digest in zip(ids, hashes, strict=True) if digest is not None]
        found, current = _found_in_session(store, session_id, caller, chosen)
        if current is not None and any(item is not None for item in found.values()):
            # An id in use: a repeated append, or an id the server drew for another message of the session.
            return _appended_before(store, session_id, caller, ids, hashes, found, current)
        incarnation = str(current["created_at"]) if current is not None else None
        return _transaction(store, session_id, caller, requests, ids, hashes, now, guard, incarnation)
    for _ in range(3):
        found, current = _found_in_session(store, session_id, caller, ids)
        incarnation = str(current["created_at"]) if current is not None else None
        done = next((number for number, message_id in enumerate(ids) if found[message_id] is None), len(ids))
        if any(found[message_id] is not None for message_id in ids[done:]):
            raise MessageConflict("A message with this message_id exists with another body (or being deleted)")
        written: list[Message] = []
        if done and current is not None:
            written = list(_appended_before(store, session_id, caller, ids[:done], hashes[:done], found, current))
        if done == len(ids):
            return Appended(written, created=False)
        start = now
        if written:  # the rest of a batch stored in part lands after its stored part
            start = max(start, written[-1].created_at + timedelta(microseconds=1))
        for first in range(done, len(ids), BATCH_GROUP_MESSAGES):
            group = slice(first, first + BATCH_GROUP_MESSAGES)
            appended = _transaction(
                store,
                session_id,
                caller,
                requests[group],
                ids[group],
                hashes[group],
                start,
                guard if first == 0 else None,
                incarnation,
            )
            if not appended.created:  # a concurrent append of the same batch took these ids: read it again
                break
            written.extend(appended)
            start = appended[-1].created_at + timedelta(microseconds=1)
        else:
            return Appended(written, created=True)
        now = store.clock()
    raise ServiceUnavailable()


def _increments(requests: Sequence[MessageCreate]) -> dict[str, Any]:
    """What appending ``requests`` adds to the session's counters (per-model usage included)."""
    increments: dict[str, Any] = {
        "message_count": len(requests),
        "total_tokens": sum(r.tokens_used for r in requests),
        "total_cost": sum((r.cost_usd for r in requests), Decimal(0)),
    }
    increments.update(
        sum_usage(*(usage_increments(r.provider, r.model, 1, r.tokens_used, r.cost_usd) for r in requests))
    )
    return increments


def _transaction(
    store: Store,
    session_id: str,
    caller: str,
    requests: Sequence[MessageCreate],
    ids: Sequence[str],
    hashes: Sequence[str | None],
    now: datetime,
    guard: WriteGuard | None,
    incarnation: str | None = None,
) -> Appended:
    """Store ``requests`` (their ``ids``, their body ``hashes`` where they are reserved) from ``now`` on, with the
    session's update, in one transaction (:func:`append_messages`); ``created`` false when a reserved id was
    taken meanwhile by the same body. ``incarnation`` (the session's ``created_at``, when it was read) lets a
    reservation replace one an older incarnation of the session id left (:func:`_reservation`). Raises what
    :func:`append_messages` raises."""
    increments = _increments(requests)
    chosen = [message_id for message_id, digest in zip(ids, hashes, strict=True) if digest is not None]
    known: set[str] | None = None  # the pairs named that the session names already, once read
    for _ in range(3):
        message_items = _message_items(session_id, caller, requests, ids, now, hashes)
        reservations = [
            _reservation(message_id_item(session_id, item["message_id"], item["SK"], item["created_at"]), incarnation)
            for item, digest in zip(message_items, hashes, strict=True)
            if digest is not None
        ]
        actions: list[Action] = [*(PutNew(item) for item in message_items), *reservations]
        # A message lands above every cut (a truncation that read the tail before this append committed).
        actions.append(
            SessionActivity(
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
            transact_guarded(store.table, actions, guard, list(ids), now)
        except GuardHit as hit:
            stored = _message_items(session_id, caller, requests, hit.ids, hit.at, hashes)
            return Appended(map(message_from_item, stored), created=True)
        except TransactionCanceled as canceled:
            hot = canceled.item(-1)
            reserved = range(len(message_items), len(message_items) + len(reservations))
            if not canceled.failed(-1) and any(canceled.failed(i) for i in reserved):
                # Taken meanwhile, or reserved by an older incarnation of the id: read them again.
                found = reads.find_messages(store.table, session_id, chosen)
                current = reads.hot(store.table, store.clock, session_id, caller)
                found = _of_incarnation(found, current)
                if incarnation != current["created_at"] and not any(item is not None for item in found.values()):
                    incarnation = str(current["created_at"])
                    continue  # an older incarnation's reservations: replaced by this session's
                return _appended_before(store, session_id, caller, ids, hashes, found, current)
            if not store.is_live(hot, caller):
                raise SessionNotFound() from canceled
            if hot is None or hot.get("status") != SessionStatus.ACTIVE:
                raise SessionNotActive() from canceled
            if canceled.failed(-1) and rules.over_model_cap(hot, increments):
                raise TooManyModels() from canceled
            if canceled.failed(-1):
                # A cut reaching past ``now`` (append just above it), or the cap's first guess, which counts
                # every pair named as new: its condition is made again from the pairs the session names.
                known = pairs_named(increments) & set(hot.get(MODELS, set()))
                if hot.get("cut_through"):
                    cut = parse_iso(str(hot["cut_through"]).split("#")[1])
                    now = max(now, cut + timedelta(microseconds=1))
                continue
            raise ServiceUnavailable() from canceled  # an id collision on a new item: retrying draws new ids
        return Appended(map(message_from_item, message_items), created=True)
    raise ServiceUnavailable()


def _found_in_session(
    store: Store, session_id: str, caller: str, message_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any] | None]:
    """The messages of the session named by ``message_ids`` (id -> its message item or ``None``), and the
    session's hot item when one was found (read then, to drop the messages of older incarnations:
    :func:`_of_incarnation`; ``None`` when none was found). Raises :class:`SessionNotFound`."""
    found = reads.find_messages(store.table, session_id, message_ids)
    if not any(item is not None for item in found.values()):
        return found, None
    current = reads.hot(store.table, store.clock, session_id, caller)
    return _of_incarnation(found, current), current


def _of_incarnation(found: dict[str, dict[str, Any] | None], hot: dict[str, Any]) -> dict[str, dict[str, Any] | None]:
    """``found`` (message id -> its message item or ``None``) without the messages of older incarnations of the
    session ``hot`` (expired or deleted ids taken over, whose items wait for the stream's clean-up): a take-over's
    session is new for message ids too."""
    incarnation = str(hot["created_at"])
    return {mid: item if item and str(item["created_at"]) >= incarnation else None for mid, item in found.items()}


def _reservation(item: dict[str, Any], incarnation: str | None) -> Action:
    """The Put of a client-chosen id's reservation ``item``: new, or, once the session's ``incarnation`` is known,
    over a reservation an older incarnation of the id left (created before it)."""
    if incarnation is None:
        return PutNew(item)
    return Put(item, "attribute_not_exists(PK) OR created_at < :incarnation", {":incarnation": incarnation})


def _appended_before(
    store: Store,
    session_id: str,
    caller: str,
    ids: Sequence[str],
    hashes: Sequence[str | None],
    found: dict[str, dict[str, Any] | None],
    hot: dict[str, Any],
) -> Appended:
    """The answer to an append whose client-chosen ids are taken: the stored messages (``created`` false) when
    every message names its id and was stored with the same body. ``found`` holds the messages of the session
    ``hot`` (its hot item, as read) read by the client-chosen ids (:func:`~session_service.data.reads.
    find_messages`). Raises :class:`MessageConflict` otherwise."""
    stored = []
    for message_id, digest in zip(ids, hashes, strict=True):
        item = found.get(message_id) if digest is not None else None
        if item is None or item.get("body_hash") != digest or not rules.shows(hot, item):
            raise MessageConflict("A message with this message_id exists with another body (or being deleted)")
        stored.append(reads.with_content(store.table, item))
    return Appended(map(message_from_item, stored), created=False)


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
        message_item(session_id, caller, message_id, request, now + timedelta(microseconds=offset), digest)
        for offset, (request, message_id, digest) in enumerate(zip(requests, ids, hashes, strict=True))
    ]


def _message(store: Store, session_id: str, caller: str, message_id: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The caller's live session's hot item and one of its messages (:func:`~session_service.data.reads.
    hot_and_message`). Raises :class:`SessionNotFound`, :class:`MessageNotFound`."""
    hot, item = reads.hot_and_message(store.table, store.clock, session_id, caller, message_id)
    if item is None or not rules.shows(hot, item):
        raise MessageNotFound()
    return hot, item


def get_message(store: Store, session_id: str, caller: str, message_id: str) -> Message:
    """One message of the caller's live session, with its content so far when it is a streamed reply.

    Raises :class:`SessionNotFound`, :class:`MessageNotFound`.
    """
    _, item = _message(store, session_id, caller, message_id)
    return message_from_item(reads.with_content(store.table, item))


def _add_cut(hot: dict[str, Any], first: str, last: str, deleted: int) -> tuple[dict[str, Any], str, dict[str, str]]:
    """The ``sets``, condition and names that record a truncation's cut of ``[first, last]`` in the hot item (see
    :mod:`session_service.data.keys`), with the number of messages it ``deleted`` (what a retry of the truncation
    answers: :func:`~session_service.rules.truncated_before`). Raises :class:`DeletionsPending` while the session
    already holds :data:`~session_service.rules.MAX_PENDING_CUTS` cuts (the stream function is deleting them)."""
    if not rules.has_room_for_cut(hot):
        raise DeletionsPending()
    cut = {"from": first, "to": last, "deleted": deleted}
    sets = {"cuts.#cut": cut, "cut_through": max(str(hot.get("cut_through", "")), last)}
    return sets, "size(cuts) < :max_cuts", {"#cut": uuid.uuid4().hex[:12]}


def _change_message(
    store: Store,
    session_id: str,
    caller: str,
    message_id: str,
    plan: Callable[[dict[str, Any], dict[str, Any]], _Plan],
) -> _Plan:
    """Apply one change of a message with the session's counters in one transaction, retried from a fresh read
    when the message or the session's cuts changed meanwhile.

    ``plan(hot, message)`` decides the change from what is stored. The message's action is conditioned on its
    ``version``; the session's update on ``cut_count`` (no truncation since the read), so the counters move
    exactly once for exactly the messages that exist. Raises :class:`SessionNotFound`, :class:`MessageNotFound`,
    :class:`SessionNotActive`, what ``plan`` raises, and :class:`ServiceUnavailable` when the message keeps
    changing.
    """
    for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
        hot, item = _message(store, session_id, caller, message_id)
        if hot["status"] != SessionStatus.ACTIVE:
            raise SessionNotActive()
        change = plan(hot, item)
        if not change.actions:
            return change
        update = SessionActivity(
            session_id,
            caller,
            store.clock(),
            change.increments,
            sets=change.hot_sets,
            condition="cut_count = :cut_count",
            values={":cut_count": int(hot.get("cut_count", 0))},
            known_pairs=set(hot.get(MODELS, set())),  # as read: the set never shrinks
        )
        try:
            transact(store.table, [*change.actions, update])
        except TransactionCanceled as canceled:
            if canceled.failed(-1) and not store.is_live(canceled.item(-1), caller):
                raise SessionNotFound() from canceled
            if canceled.failed(-1) and rules.over_model_cap(canceled.item(-1), change.increments):
                raise TooManyModels() from canceled
            continue  # the message, the session's cuts or its status changed: decide again
        return change
    raise ServiceUnavailable()


def update_message(store: Store, session_id: str, caller: str, message_id: str, request: MessageUpdate) -> Message:
    """Change a message (SPEC section 8): its ``metadata``, ``provider``, ``model``, or its ``content``,
    ``tokens_used`` and ``cost_usd`` (the session's counters move by the difference in the same transaction); or
    finalize a streamed reply with ``status`` (its chunks become its content, its tokens and cost count from now
    on; the stream function deletes its chunks when it sees the change, so a finalization waits for nothing).
    A change that changes nothing writes nothing.

    Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
    :class:`MessageConflict` (a reply in progress changed without finalizing it, or a finalized one finalized
    differently), :class:`ServiceUnavailable`.
    """

    def plan(hot: dict[str, Any], item: dict[str, Any]) -> _Plan:
        given = {name: getattr(request, name) for name in type(request).model_fields}
        given = {name: value for name, value in given.items() if value is not None}
        if "metadata" in given:
            given["metadata"] = dump_json(given["metadata"])
        if "status" in given:
            given["status"] = given["status"].value
        streaming = is_streaming(item)
        if streaming and "status" in given:  # the chunks so far become the content
            content = reads.with_content(store.table, item)["content"]
            given = {"content": content, "tokens_used": 0, "cost_usd": 0, **given}
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
        action = MessageChange(item, f"SET {assignments} ADD version :one", names, {**values, ":one": 1})
        increments = {
            "total_tokens": int(changed.get("tokens_used", item["tokens_used"])) - int(item["tokens_used"]),
            "total_cost": Decimal(changed.get("cost_usd", item["cost_usd"])) - Decimal(item["cost_usd"]),
        }
        stored = {**item, **changed, "version": int(item["version"]) + 1}
        # The message leaves its (provider, model) row and joins its new one, with its new tokens and cost.
        increments.update(sum_usage(message_usage(item, -1), message_usage(stored)))
        return _Plan(stored, [action], {k: v for k, v in increments.items() if v})

    return message_from_item(_change_message(store, session_id, caller, message_id, plan).message)


def delete_message(store: Store, session_id: str, caller: str, message_id: str) -> int:
    """Delete one message and take it off the session's counters in one transaction (its reserved id goes with
    it; a streamed reply's chunks, the stream function deletes when it sees the deletion). Returns 1.

    Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
    :class:`ServiceUnavailable`.
    """

    def plan(hot: dict[str, Any], item: dict[str, Any]) -> _Plan:
        actions: list[Action] = [MessageChange(item)]
        if item.get("body_hash") is not None:
            actions.append(Delete(message_id_key(session_id, str(item["message_id"]))))
        increments = {
            "message_count": -1,
            "total_tokens": -int(item["tokens_used"]),
            "total_cost": -Decimal(item["cost_usd"]),
            **message_usage(item, -1),
        }
        return _Plan(item, actions, increments)

    _change_message(store, session_id, caller, message_id, plan)
    return 1


def truncate_after(store: Store, session_id: str, caller: str, message_id: str) -> int:
    """Delete every message after ``message_id`` (to regenerate a reply); return how many.

    Reads the tail's sort keys, tokens and costs (Queries of the visible messages after it), then one
    conditional UpdateItem of the session: the counters drop by the tail's sums and the tail's key range
    becomes a cut, hidden from every reader at once; the stream function deletes its items in the
    background (so the answer does not wait for thousands of deletes). Conditioned on the session's
    ``version``: a change in between (an append, an edit) makes it read the tail again. The cut records how
    many it deleted: a truncation repeated while that cut is pending (a retry after a lost answer, by botocore
    or by the client) finds no tail and answers that count (:func:`~session_service.rules.truncated_before`).
    Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
    :class:`DeletionsPending` (the session holds :data:`~session_service.rules.MAX_PENDING_CUTS` truncations the
    stream function has not applied yet), :class:`ServiceUnavailable`.
    """
    for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
        hot, item = _message(store, session_id, caller, message_id)
        if hot["status"] != SessionStatus.ACTIVE:
            raise SessionNotActive()
        after = after_message(str(item["SK"]))
        query = messages_query(store.table.name, hot, newest_first=False, first=after)
        query["ProjectionExpression"] = "SK, tokens_used, cost_usd, #provider, #model"
        query["ExpressionAttributeNames"] = {"#provider": "provider", "#model": "model"}
        tail = [row for row in store.table.query_all(query) if rules.visible(str(row["SK"]), hot)]
        if not tail:
            return rules.truncated_before(hot, after)
        sets, condition, names = _add_cut(hot, after, message_range(str(tail[-1]["SK"]))[1], len(tail))
        increments = {
            "message_count": -len(tail),
            "total_tokens": -sum(int(row["tokens_used"]) for row in tail),
            "total_cost": -sum((Decimal(row["cost_usd"]) for row in tail), Decimal(0)),
            "cut_count": 1,
            **sum_usage(*(message_usage(row, -1) for row in tail)),
        }
        update = SessionActivity(
            session_id,
            caller,
            store.clock(),
            increments,
            sets=sets,
            condition=f"version = :version AND {condition}",
            values={":version": int(hot["version"]), ":max_cuts": rules.MAX_PENDING_CUTS},
            names=names,
            old_on_failure=False,  # the conditional write asks for the old item itself
        )
        try:
            store.table.update(update.render(store.table.name)["Update"])
        except ConditionFailed as failed:
            if not store.is_live(failed.item, caller):
                raise SessionNotFound() from failed
            continue  # the session changed since the tail was read
        return len(tail)
    raise ServiceUnavailable()


def list_messages(
    store: Store,
    session_id: str,
    caller: str,
    *,
    order: MessageOrder = MessageOrder.ASC,
    page: int = 1,
    page_size: int = 100,
    next_token: str | None = None,
) -> MessageList:
    """A page of the session's messages, oldest first (``asc``) or newest first (``desc``).

    Each page reads the hot item (owner, expiry, cuts, ``total``) and Queries the visible messages: two round
    trips (a third per streamed reply in progress on the page, for its chunks). A ``next_token`` continues in the
    same order at the same cost. Raises :class:`SessionNotFound`, :class:`~session_service.errors.InvalidCursor`.
    """
    scope = f"messages|{session_id}|{caller}|{order.value}|{page_size}"
    start_key, skip, incarnation = None, (page - 1) * page_size, None
    if next_token:
        position = store.cursors.decode(scope, next_token)
        start_key, skip, page, incarnation = position["k"], 0, int(position["p"]), position["c"]
    hot = reads.hot(store.table, store.clock, session_id, caller)
    if incarnation is not None and hot["created_at"] != incarnation:
        raise InvalidCursor()  # issued for an earlier session of this id, which expired
    query = messages_query(store.table.name, hot, newest_first=order is MessageOrder.DESC)
    result = store.table.query_page(
        query, skip=skip, take=page_size, start_key=start_key, keep=lambda raw: rules.visible(raw["SK"]["S"], hot)
    )
    cursor = None
    if result.last_evaluated:
        cursor = store.cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1, "c": hot["created_at"]})
    return MessageList(
        messages=[message_from_item(reads.with_content(store.table, deserialize(raw))) for raw in result.items],
        total=int(hot["message_count"]),
        page=page,
        page_size=page_size,
        next_token=cursor,
    )


def get_context(store: Store, session_id: str, caller: str, *, max_tokens: int, max_messages: int) -> Context:
    """The summary and the newest messages whose ``tokens_used`` fit ``max_tokens`` and whose number fits
    ``max_messages``, oldest first (SPEC section 3); a reply still streaming shows its content so far.

    Reads the hot and summary items, then Queries newest first that read what is returned plus one message (to
    tell ``truncated``): the first asks for at most 21 items, later ones twice as many, so the cost grows with
    what is returned, never with the conversation. Raises :class:`SessionNotFound`.
    """
    hot, summary = reads.hot_and_summary(store.table, store.clock, session_id, caller)
    query = messages_query(store.table.name, hot, newest_first=True)
    taken: list[Message] = []
    tokens, truncated, start_key, limit = 0, False, None, min(max_messages + 1, 21)
    for _ in range(dynamo.MAX_QUERY_ROUND_TRIPS):
        extra: dict[str, Any] = {"Limit": limit}
        if start_key:
            extra["ExclusiveStartKey"] = start_key
        response = store.table.query(query, **extra)
        for raw in response.get("Items", []):
            item = deserialize(raw)
            if not rules.visible(str(item["SK"]), hot):
                continue
            if len(taken) == max_messages or tokens + int(item["tokens_used"]) > max_tokens:
                truncated = True
                break
            taken.append(message_from_item(reads.with_content(store.table, item)))
            tokens += taken[-1].tokens_used
        start_key = response.get("LastEvaluatedKey")
        if truncated or not start_key:
            break
        limit = min(max_messages + 1 - len(taken), 2 * limit, 1000)
    return Context(
        session_id=session_id,
        summary=summary_text(hot, summary),
        messages=taken[::-1],
        tokens=tokens,
        truncated=truncated,
    )
