"""Messages as records: get, update, delete, truncate, list, and the context window.

Every write moves the session's counters in the same transaction as the messages
(:class:`~session_service.data.actions.SessionActivity`), so a reader never sees one without the other; a
truncation *cuts* a key range that readers skip at once and the stream function deletes later
(:mod:`session_service.rules`). Appending is :mod:`session_service.operations.appends`.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from session_service import rules
from session_service.data import dynamo, reads
from session_service.data.actions import Action, Delete, MessageChange, SessionActivity, transact
from session_service.data.dynamo import ConditionFailed, TransactionCanceled, deserialize
from session_service.data.guard import GuardHit, WriteGuard, transact_guarded
from session_service.data.items import is_streaming, message_from_item, message_values, summary_text
from session_service.data.keys import after_message, message_id_key, message_range, message_start, timestamp_micros
from session_service.data.reads import messages_from_time_query, messages_query
from session_service.data.stats import MODELS, message_usage, sum_usage, usage_of
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
    MAX_MESSAGE_BYTES,
    Context,
    Message,
    MessageList,
    MessageOrder,
    MessageUpdate,
    SessionStatus,
    dump_json,
)
from session_service.operations import Store


@dataclass
class _Plan:
    """One change of a message: ``message`` is the item as it will be stored, ``actions`` the transaction's
    actions on message items (none: nothing to write), ``increments`` what the session's counters move by,
    ``hot_sets`` what else the session's update sets."""

    message: dict[str, Any]
    actions: list[Action] = field(default_factory=list)
    increments: dict[str, Any] = field(default_factory=dict)
    hot_sets: dict[str, Any] = field(default_factory=dict)


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
    return message_from_item(reads.with_content(store.table, item), caller)


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
    """Change a message (SPEC section 8): its ``metadata``, ``data``, ``provider``, ``model``, or its ``content``,
    ``tokens_used`` and ``cost_usd`` (the session's counters move by the difference in the same transaction); or
    finalize a streamed reply with ``status`` (its chunks become its content, its tokens and cost count from now
    on; the stream function deletes its chunks when it sees the change, so a finalization waits for nothing).
    A change that changes nothing writes nothing.

    Raises :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`,
    :class:`MessageConflict` (a reply in progress changed without finalizing it, or a finalized one finalized
    differently), :class:`PayloadTooLarge` (``content`` and ``data`` would exceed 256 KiB together),
    :class:`ServiceUnavailable`.
    """

    def plan(hot: dict[str, Any], item: dict[str, Any]) -> _Plan:
        given = {name: getattr(request, name) for name in type(request).model_fields}
        given = {name: value for name, value in given.items() if value is not None}
        for name in ("metadata", "data"):  # stored as JSON text
            if name in given:
                given[name] = dump_json(given[name])
        if "status" in given:
            given["status"] = given["status"].value
        streaming = is_streaming(item)
        if streaming and "status" in given:  # the chunks so far become the content
            content = reads.with_content(store.table, item)["content"]
            given = {"content": content, "tokens_used": 0, "cost_usd": 0, **given}
        elif streaming and given.keys() & {"content", "data", "tokens_used", "cost_usd"}:
            raise MessageConflict("The reply is in progress: finalize it with status completed or incomplete")
        changed = {name: value for name, value in given.items() if item.get(name) != value}
        if "status" in given and not streaming and changed:
            raise MessageConflict(f"The reply was finalized as {item['status']} with other values")
        if not changed:
            return _Plan(item)
        if changed.keys() & {"content", "data"}:
            content, data = changed.get("content", item["content"]), changed.get("data", item.get("data"))
            changed["content_bytes"] = len(str(content).encode("utf-8")) + len(str(data or "").encode("utf-8"))
            if changed["content_bytes"] > MAX_MESSAGE_BYTES:
                raise PayloadTooLarge(f"content and data would exceed {MAX_MESSAGE_BYTES} bytes together")
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

    return message_from_item(_change_message(store, session_id, caller, message_id, plan).message, caller)


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


POP_ATTEMPTS = 12
"""Reads and transactions one pop tries before it answers 503: each lost race (a concurrent pop, delete or
truncation took one of its messages) makes it read the newest messages again; ten concurrent pops of one session
each win within ten rounds."""


def _newest(store: Store, hot: dict[str, Any], take: int, projection: str | None = None) -> list[dict[str, Any]]:
    """The newest ``take`` visible messages (DynamoDB JSON, newest first) of the session ``hot`` describes."""
    query = messages_query(store.table.name, hot, newest_first=True)
    if projection:
        query["ProjectionExpression"] = projection
    page = store.table.query_page(
        query, skip=0, take=take, start_key=None, keep=lambda raw: rules.visible(raw["SK"]["S"], hot)
    )
    return page.items


def pop_messages(
    store: Store, session_id: str, caller: str, count: int, guard: WriteGuard | None = None
) -> list[Message]:
    """Remove the session's newest ``count`` visible messages (a streamed reply in progress included) and return
    them, newest first, as they were stored: fewer when the session holds fewer, none when it holds none.

    Reads the hot item and Queries the newest messages, then ONE transaction deletes them (each conditioned on its
    ``version``: still there, unchanged), their ``MID#`` reservations, and takes them off the session's counters
    (conditioned on ``cut_count``: no truncation or clear since the read). A lost race (a concurrent pop took one
    of them) reads again, at most :data:`POP_ATTEMPTS` times with a short jittered pause, so two concurrent pops
    never return the same message. A streamed reply's chunks, the stream function deletes when it sees the
    deletion (as for a deleted reply). With a ``guard`` (an ``Idempotency-Key``), a retry of a pop that was applied
    but whose answer and record were lost writes nothing and returns an empty list
    (:class:`~session_service.data.guard.GuardHit`: the messages are gone).
    Raises :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`ServiceUnavailable` (still losing races
    after :data:`POP_ATTEMPTS`), :class:`~session_service.errors.IdempotencyKeyReused`.
    """
    for attempt in range(POP_ATTEMPTS):
        if attempt:
            time.sleep(random.random() * min(0.2, 0.01 * 2**attempt))
        hot = reads.hot(store.table, store.clock, session_id, caller)
        if hot["status"] != SessionStatus.ACTIVE:
            raise SessionNotActive()
        found = [message_values(deserialize(raw)) for raw in _newest(store, hot, count)]
        if not found:
            return []
        popped = [message_from_item(reads.with_content(store.table, item), caller) for item in found]
        actions: list[Action] = []
        for item in found:
            actions.append(MessageChange(item))
            if item.get("body_hash") is not None:
                actions.append(Delete(message_id_key(session_id, str(item["message_id"]))))
        increments = {
            "message_count": -len(found),
            "total_tokens": -sum(int(item["tokens_used"]) for item in found),
            "total_cost": -sum((Decimal(item["cost_usd"]) for item in found), Decimal(0)),
            **sum_usage(*(message_usage(item, -1) for item in found)),
        }
        now = store.clock()
        update = SessionActivity(
            session_id,
            caller,
            now,
            {name: value for name, value in increments.items() if value},
            condition="cut_count = :cut_count",
            values={":cut_count": int(hot.get("cut_count", 0))},
            known_pairs=set(hot.get(MODELS, set())),
        )
        try:
            transact_guarded(store.table, [*actions, update], guard, [m.message_id for m in popped], now)
        except GuardHit:
            return []
        except TransactionCanceled as canceled:
            if canceled.failed(-1) and not store.is_live(canceled.item(-1), caller):
                raise SessionNotFound() from canceled
            if canceled.failed(-1) and (canceled.item(-1) or {}).get("status") != SessionStatus.ACTIVE:
                raise SessionNotActive() from canceled
            continue  # a message or the session's cuts changed since the read: read the newest again
        return popped
    raise ServiceUnavailable("The session's newest messages kept changing; retry the pop")


def clear_messages(store: Store, session_id: str, caller: str, guard: WriteGuard | None = None) -> int:
    """Remove every message of the session and keep the session; return how many (its ``message_count``).

    Reads the hot item and the newest visible message's key (one Query of one item), then one conditional update
    of the hot item: the session's whole message range becomes a cut (hidden from every reader at once; the
    stream function deletes its messages, chunks and reserved ids in the background, as for a truncation),
    ``message_count``, ``total_tokens``, ``total_cost`` and every per-model usage attribute are set to zero (the
    hot item holds the totals: no message is read), ``cut_count`` moves. Conditioned on the session's
    ``version``: a change in between (an append) makes it read again. A session without messages writes nothing
    and answers 0. With a ``guard`` (an ``Idempotency-Key``) the update is a transaction with the guard, and a
    retry of a clear that was applied but whose answer and record were lost answers what it removed.
    Raises :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`DeletionsPending` (the session holds
    :data:`~session_service.rules.MAX_PENDING_CUTS` cuts the stream function has not applied yet),
    :class:`ServiceUnavailable`, :class:`~session_service.errors.IdempotencyKeyReused`.
    """
    for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
        hot = reads.hot(store.table, store.clock, session_id, caller)
        if hot["status"] != SessionStatus.ACTIVE:
            raise SessionNotActive()
        newest = _newest(store, hot, 1, projection="SK")
        if not newest:
            return 0
        deleted = int(hot.get("message_count", 0))
        first = message_start(str(hot["created_at"]))
        sets, condition, names = _add_cut(hot, first, message_range(str(newest[0]["SK"]["S"]))[1], deleted)
        zeroed = ["message_count", "total_tokens", "total_cost", *usage_of(hot)]
        sets.update({f"#z{number}": 0 for number in range(len(zeroed))})
        names.update({f"#z{number}": name for number, name in enumerate(zeroed)})
        now = store.clock()
        update = SessionActivity(
            session_id,
            caller,
            now,
            {"cut_count": 1},
            sets=sets,
            condition=f"version = :version AND {condition}",
            values={":version": int(hot["version"]), ":max_cuts": rules.MAX_PENDING_CUTS},
            names=names,
            old_on_failure=guard is not None,  # a transaction asks for the old item in its action
        )
        try:
            if guard is None:
                store.table.update(update.render(store.table.name)["Update"])
            else:
                transact_guarded(store.table, [update], guard, [str(deleted)], now)
        except GuardHit as hit:
            return int(hit.ids[0])
        except (ConditionFailed, TransactionCanceled) as failed:
            old = failed.item if isinstance(failed, ConditionFailed) else failed.item(-1)
            if not store.is_live(old, caller):
                raise SessionNotFound() from failed
            continue  # the session changed since it was read
        return deleted
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
    from_timestamp: float | None = None,
) -> MessageList:
    """A page of the session's messages, oldest first (``asc``) or newest first (``desc``).

    Each page reads the hot item (owner, expiry, cuts, ``total``) and Queries the visible messages: two round
    trips (a third per streamed reply in progress on the page, for its chunks). A ``next_token`` continues in the
    same order at the same cost. With ``from_timestamp`` (epoch seconds), the messages whose client ``timestamp``
    is at or after it, by timestamp (``asc``) or newest timestamp first (``desc``): one Query of LSI1 from that time
    (:func:`~session_service.data.reads.messages_from_time_query`), whose cost does not grow with the messages
    before it; messages without a timestamp, and agents' messages (read by position), are not in it. Raises
    :class:`SessionNotFound`, :class:`~session_service.errors.InvalidCursor` (also for a token of another listing).
    """
    scope = f"messages|{session_id}|{caller}|{order.value}|{page_size}"
    micros = None if from_timestamp is None else timestamp_micros(from_timestamp)
    if micros is not None:  # a listing from a time has its own tokens
        scope += f"|ts{micros}"
    start_key, skip, incarnation = None, (page - 1) * page_size, None
    if next_token:
        position = store.cursors.decode(scope, next_token)
        start_key, skip, page, incarnation = position["k"], 0, int(position["p"]), position["c"]
    hot = reads.hot(store.table, store.clock, session_id, caller)
    if incarnation is not None and hot["created_at"] != incarnation:
        raise InvalidCursor()  # issued for an earlier session of this id, which expired
    newest_first = order is MessageOrder.DESC
    if micros is None:
        query = messages_query(store.table.name, hot, newest_first=newest_first)
    else:
        query = messages_from_time_query(store.table.name, hot, micros, newest_first=newest_first)

    def keep(raw: dict[str, Any]) -> bool:
        # Visible; and of this incarnation (the index holds an earlier session's of this id until it is cleaned up).
        return rules.shows(hot, {"SK": raw["SK"]["S"], "created_at": raw["created_at"]["S"]})

    result = store.table.query_page(query, skip=skip, take=page_size, start_key=start_key, keep=keep)
    cursor = None
    if result.last_evaluated:
        cursor = store.cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1, "c": hot["created_at"]})
    return MessageList(
        messages=[message_from_item(reads.with_content(store.table, deserialize(raw)), caller) for raw in result.items],
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
            taken.append(message_from_item(reads.with_content(store.table, item), caller))
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
