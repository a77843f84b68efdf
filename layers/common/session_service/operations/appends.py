"""Appending messages: one, or a batch of up to 98, with their counts, in one transaction (or, for a batch that
does not fit one, in consecutive transactions that a resend of the batch completes).

The messages and the session's counters move in the same transaction
(:class:`~session_service.data.actions.SessionActivity`), so a reader never sees one without the other. A
``message_id`` the client chose is reserved by a ``MID#`` item in that transaction: an append repeated with it
writes nothing.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service import rules
from session_service.data import dynamo, reads
from session_service.data.actions import Action, Put, PutNew, SessionActivity, transact
from session_service.data.dynamo import TransactionCanceled, TransactionInvalid
from session_service.data.guard import GuardHit, WriteGuard, transact_guarded
from session_service.data.items import (
    LAST_MESSAGE_TIMESTAMP,
    SESSION_VERSION,
    last_message_time,
    message_from_item,
    message_id_item,
    message_item,
    tag_of,
    with_agent,
)
from session_service.data.keys import LSI_MESSAGE_ID, iso, key, namespace_state_key, parse_iso, user_state_key
from session_service.data.state import (
    CountMoved,
    StaleStateDelete,
    StateUpdate,
    agent_of,
    change_size,
    state_failure,
)
from session_service.data.stats import MODELS, pairs_named, sum_usage, usage_increments
from session_service.errors import (
    MessageConflict,
    NoNamespace,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    SessionNotActive,
    SessionNotFound,
    TooManyModels,
)
from session_service.models import (
    Message,
    MessageCreate,
    SessionStatus,
    SessionTag,
)
from session_service.models.state import AppendState
from session_service.operations import Store


@dataclass(frozen=True)
class SharedChanges:
    """An append's changes of the state shared beyond its session: the caller's document of the
    session's namespace (``user``) and the namespace's (``namespace``)."""

    user: AppendState | None = None
    namespace: AppendState | None = None

    def __bool__(self) -> bool:
        return self.user is not None or self.namespace is not None


class Appended(list[Message]):
    """The messages an append stored, in order; ``created`` is false when they were stored before (a repeated
    append with the client's ``message_id``s: 200 instead of 201); ``stored_before`` names the ids of a batch
    that a batch storing the rest skipped (stored before with the same body); ``version`` is the session's version
    and incarnation (its ETag) after the append when it is known (a conditional append's: the one it named plus
    one; an append finding its messages stored: the one read), else ``None``."""

    def __init__(
        self,
        messages: Iterable[Message],
        *,
        created: bool,
        stored_before: frozenset[str] = frozenset(),
        version: SessionTag | None = None,
    ) -> None:
        super().__init__(messages)
        self.created = created
        self.stored_before = stored_before
        self.version = version

    def new(self) -> list[Message]:
        """The messages this append wrote (none when ``created`` is false)."""
        return [m for m in self if m.message_id not in self.stored_before] if self.created else []


def _request_hash(request: MessageCreate) -> str:
    """SHA-256 of an append's body as validated (canonical JSON): what a repeated append is compared with."""
    body = json.dumps(_body(request), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(body.encode("utf-8")).hexdigest()


def _body(request: MessageCreate) -> dict[str, Any]:
    """An append's body as compared: without ``data``, ``state``, ``agent_id``, ``user_state``, ``namespace_state``
    or ``timestamp`` when it has none (so the hashes
    of messages stored before messages had them stay what they were)."""
    names = ("data", "state", "agent_id", "user_state", "namespace_state", "timestamp")
    absent = {name for name in names if getattr(request, name) is None}
    return request.model_dump(mode="json", exclude=absent or None)


BATCH_GROUP_MESSAGES = (dynamo.MAX_TRANSACTION_ITEMS - 2) // 2
"""Messages of one transaction of a batch written in several (:func:`append_messages`): each message and its
``MID#`` reservation are two items; the session's update and the write guard fill the 100 (an AWS limit)."""
SESSION_WRITE_BYTES = 1024
"""What a batch keeps below :data:`~session_service.data.dynamo.MAX_TRANSACTION_BYTES` (4,000,000 bytes) for the
session's update and the write guard. DynamoDB's limit is 4 MiB (4,194,304 bytes; DynamoDB Local refuses 4.39 MB
and takes 4.09 MB), so a batch at the bound leaves about 190 KB for them: the hot item at its largest (16
provider/model pairs of 128 four-byte characters, 20 pending cuts) is about 18 KB, a guard naming 98 ids about
4 KB (``tests/integration/test_transaction_limits_local.py`` writes that worst case)."""


TRANSACTION_ATTEMPTS = 12
"""Attempts of one transaction of an append: a condition that moved under it (a cut, the session's models, an
agent's count that a concurrent append of the agent took: of N racing appends of one agent, each round stores one)
makes it again from a fresh read."""


def _transaction_items(requests: Sequence[MessageCreate], guard: WriteGuard | None) -> int:
    """The items one transaction of ``requests`` takes: each message, each ``MID#`` reservation, each agent's
    item, the session's update and the guard."""
    agents = len(_agents(requests))
    return len(requests) + sum(1 for r in requests if r.message_id) + agents + 1 + (guard is not None)


def _group_size(requests: Sequence[MessageCreate]) -> int:
    """Messages of one transaction of a batch written in several: :data:`BATCH_GROUP_MESSAGES`, less room for the
    agents' items (``MAX_BATCH_AGENTS`` at most)."""
    return BATCH_GROUP_MESSAGES - (len(_agents(requests)) + 1) // 2


def _agents(requests: Sequence[MessageCreate]) -> list[str]:
    """The agents the messages name, in order of first appearance."""
    return list(dict.fromkeys(r.agent_id for r in requests if r.agent_id is not None))


def _batch_ids(store: Store, requests: Sequence[MessageCreate], split: bool) -> list[str]:
    """The ids of a batch's messages: the client's, else drawn; in a batch written in several transactions, a
    message without one gets an id derived from the whole batch (which names client ids, unique in the
    session), so a retry of the same batch finds it by id and writes it once."""
    if not split:
        return [request.message_id or store.new_id() for request in requests]
    batch = [_body(request) for request in requests]
    digest = hashlib.sha256(json.dumps(batch, sort_keys=True, separators=(",", ":")).encode("utf-8")).hexdigest()
    return [r.message_id or str(uuid.uuid5(uuid.NAMESPACE_OID, f"{digest}:{i}")) for i, r in enumerate(requests)]


def append_messages(
    store: Store,
    session_id: str,
    caller: str,
    requests: Sequence[MessageCreate],
    guard: WriteGuard | None = None,
    *,
    if_match: SessionTag | None = None,
    state: AppendState | None = None,
    shared: SharedChanges | None = None,
) -> Appended:
    """Store messages and add their counts to the session: in one transaction (all or nothing) when they fit
    one (100 items, an AWS limit: a message, its ``MID#`` reservation when the client chose its id, the
    session's update and the write guard), else in consecutive transactions of
    :data:`BATCH_GROUP_MESSAGES`, in order.

    The hot item's ``message_count``, ``total_tokens``, ``total_cost``, ``last_activity``,
    ``last_message_timestamp`` (the last message's client ``timestamp``, else its creation time) and
    ``expires_at`` move with the messages: a reader never sees one without the other, and concurrent
    appends lose nothing (``ADD`` is atomic; conflicting transactions are retried). Nothing else is
    written: no index key moves (the stream function moves them once per batch).
    With a ``guard`` (an ``Idempotency-Key``), a retry of an append that was applied returns its messages
    (same ids and times) and writes nothing. A ``message_id`` the client chose is reserved in the same
    transaction: a message whose id is stored with the same body is skipped (answered as stored) and the rest
    are stored (``created`` true); when every message was stored before, nothing is written and ``created`` is
    false (SPEC section 8; a retried batch is safe). The rest land after the stored ones.
    In a batch written in several transactions every message is reserved (one without a client id by an id
    derived from the batch, :func:`_batch_ids`); a failure after the first transaction leaves the batch's
    first transactions stored and counted, and the same batch again finds them and writes the rest.
    Raises :class:`SessionNotFound`, :class:`SessionNotActive`,
    :class:`~session_service.errors.IdempotencyKeyReused`, :class:`MessageConflict` (an id in use with another
    body, or by a message being deleted: nothing is written), :class:`TooManyModels` (the session would name
    more than ``MAX_MODELS_PER_SESSION`` provider/model pairs), or :class:`PayloadTooLarge` (before any write)
    when the messages, their reservations and the state changes exceed what one transaction carries (4 MB, an
    AWS limit, less :data:`SESSION_WRITE_BYTES`).
    A conditional append: ``if_match`` (the session's version and incarnation the caller read, its ETag)
    conditions the session's write in the same transaction, so a stale version, or an older session of the id,
    raises :class:`PreconditionFailed` and writes nothing; the answer's ``version`` is then ``if_match``'s plus one
    (every append bumps it once). ``state`` (a batch's
    change of the session's state document) rides in the same transaction. A batch carrying either must fit one
    transaction (:class:`PayloadTooLarge` otherwise, before any write). ``shared`` (a batch's; a single append's
    are its message's ``user_state`` and ``namespace_state``) changes the caller's state document of the
    session's namespace and the namespace's, in the same transaction: the session's hot item is read first (its
    namespace names the documents; the session's write is conditioned on that incarnation). Raises
    :class:`NoNamespace` for a namespace's change in a session of none.
    """
    now = store.clock()
    if shared is None and len(requests) == 1:
        shared = SharedChanges(requests[0].user_state, requests[0].namespace_state)
    shared = shared or None
    extra = (state is not None) + (shared is not None and shared.user is not None)
    extra += shared is not None and shared.namespace is not None
    split = _transaction_items(requests, guard) + extra > dynamo.MAX_TRANSACTION_ITEMS
    if split and (if_match is not None or extra):
        raise PayloadTooLarge("A batch with If-Match or a state change must fit one transaction")
    scope = None
    if shared is not None:  # the documents are named by the session's namespace: read it
        hot = reads.hot(store.table, store.clock, session_id, caller)
        if shared.namespace is not None and not hot.get("namespace"):
            raise NoNamespace()
        scope = _SharedScope(shared, caller, hot.get("namespace"), str(hot["created_at"]))
    ids = _batch_ids(store, requests, split)
    hashes = [_request_hash(r) if r.message_id or split else None for r in requests]
    if rules.over_model_cap(None, _increments(requests)):
        raise TooManyModels()
    planned = _message_items(session_id, caller, requests, ids, now, hashes)
    reserved = [message_id_item(item) for item in planned]
    payload = sum(dynamo.item_size(item) for item in planned)
    payload += sum(dynamo.item_size(item) for item, digest in zip(reserved, hashes, strict=True) if digest)
    payload += _state_payload(requests, state, shared)
    # DynamoDB refuses a larger transaction with a ValidationException (a 500).
    if payload > dynamo.MAX_TRANSACTION_BYTES - SESSION_WRITE_BYTES:
        raise PayloadTooLarge()
    chosen = [message_id for message_id, digest in zip(ids, hashes, strict=True) if digest is not None]
    group_size = _group_size(requests) if split else len(requests)
    for _ in range(3):
        found, current = _found_in_session(store, session_id, caller, chosen)
        incarnation = str(current["created_at"]) if current is not None else None
        # An id in use: a repeated append (skipped), or an id in use with another body (409).
        stored = _stored_alike(store, ids, hashes, found, current) if current is not None else {}
        rest = [number for number, message_id in enumerate(ids) if message_id not in stored]
        if not rest:
            version = _version_stored(found, ids, current)
            return Appended((stored[message_id] for message_id in ids), created=False, version=version)
        start = now
        if stored:  # the rest of a batch stored in part lands after its stored part
            start = max(start, max(m.created_at for m in stored.values()) + timedelta(microseconds=1))
        written: dict[str, Message] = {}
        for first in range(0, len(rest), group_size):
            group = rest[first : first + group_size]
            appended = _transaction(
                store,
                session_id,
                caller,
                [requests[number] for number in group],
                [ids[number] for number in group],
                [hashes[number] for number in group],
                start,
                guard if first == 0 else None,
                incarnation,
                if_match=if_match,
                state=state,
                scope=scope,
            )
            if not appended.created:  # a concurrent append of the same messages took these ids: read them again
                break
            written.update(zip((ids[number] for number in group), appended, strict=True))
            start = appended[-1].created_at + timedelta(microseconds=1)
        else:
            return Appended(
                (stored.get(message_id) or written[message_id] for message_id in ids),
                created=True,
                stored_before=frozenset(stored),
                version=appended.version,
            )
        now = store.clock()
    raise ServiceUnavailable()


def _state_payload(requests: Sequence[MessageCreate], state: AppendState | None, shared: SharedChanges | None) -> int:
    """The bytes an append's changes of state documents add to its transaction (:func:`~session_service.data.
    state.change_size`): a single append's ``state``, a batch's, and the shared documents' (``shared``)."""
    changes = [requests[0].state if len(requests) == 1 else None, state]
    changes += [shared.user, shared.namespace] if shared is not None else []
    return sum(change_size(change.set, change.remove) for change in changes if change is not None)


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
    *,
    if_match: SessionTag | None = None,
    state: AppendState | None = None,
    scope: _SharedScope | None = None,
) -> Appended:
    """Store ``requests`` (their ``ids``, their body ``hashes`` where they are reserved) from ``now`` on, with the
    session's update, in one transaction (:func:`append_messages`); ``created`` false when a reserved id was
    taken meanwhile by the same body. ``incarnation`` (the session's ``created_at``, when it was read) lets a
    reservation replace one an older incarnation of the session id left (:func:`_reservation`); ``if_match`` and
    ``state`` as in :func:`append_messages`. Raises what :func:`append_messages` raises."""
    increments = _increments(requests)
    chosen = [message_id for message_id, digest in zip(ids, hashes, strict=True) if digest is not None]
    known: set[str] | None = None  # the pairs named that the session names already, once read
    for _ in range(TRANSACTION_ATTEMPTS):
        counts, stale = reads.agent_counts(
            store.table, session_id, _agents(requests), session_document=_changes(requests) or state is not None
        )
        for item in stale:  # an older incarnation's document: never this session's (its agent numbers from 0)
            with contextlib.suppress(TransactionCanceled):
                transact(
                    store.table, [StaleStateDelete(session_id, agent_of(str(item["SK"])), str(item["created_at"]))]
                )
        message_items = _numbered(_message_items(session_id, caller, requests, ids, now, hashes), requests, counts)
        if if_match is not None:  # a repeat of this append answers the version it made, whatever came after
            message_items = [{**item, SESSION_VERSION: if_match.version + 1} for item in message_items]
        reservations = [
            _reservation(message_id_item(item), incarnation)
            for item, digest in zip(message_items, hashes, strict=True)
            if digest is not None
        ]
        actions: list[Action] = [*(PutNew(item) for item in message_items), *reservations]
        # The agents' counts and a state change ride in the same transaction (neither: no action at all).
        documents = _document_updates(session_id, requests, now, counts, state)
        documents.extend(scope.updates(now) if scope else [])
        actions.extend(documents)
        # A message lands above every cut (a truncation that read the tail before this append committed).
        condition = "(attribute_not_exists(cut_through) OR cut_through < :first)"
        values: dict[str, Any] = {":first": message_items[0]["SK"]}
        if if_match is not None:  # a conditional append: the session is still the one (and version) the caller read
            condition += " AND version = :expected AND created_at = :tagged"
            values.update({":expected": if_match.version, ":tagged": iso(if_match.created_at)})
        if scope is not None:  # the incarnation whose namespace names the shared documents
            condition += " AND created_at = :incarnation"
            values[":incarnation"] = scope.incarnation
        # The session shows its latest message's time (the client's, else the server's): one attribute, SET.
        latest = {LAST_MESSAGE_TIMESTAMP: last_message_time(message_items[-1])}
        actions.append(
            SessionActivity(
                session_id,
                caller,
                now,
                increments,
                sets=latest,
                condition=condition,
                values=values,
                known_pairs=known,
            )
        )
        try:
            transact_guarded(store.table, actions, guard, list(ids), now)
        except TransactionInvalid as invalid:
            if documents:  # what a valid append with a state change meets: the document's 400 KB
                raise PayloadTooLarge("The state document would pass DynamoDB's item limit (400 KB)") from invalid
            raise
        except GuardHit as hit:
            if len(hit.ids) != len(requests):  # the first attempt wrote messages this one found stored and skipped
                raise MessageConflict("This Idempotency-Key's first request stored part of these messages") from hit
            stored = _message_items(session_id, caller, requests, hit.ids, hit.at, hashes)
            if _agents(requests):  # their positions were drawn from counts read then: as stored
                read = {str(i["SK"]): i for i in store.table.batch_get([key(i["PK"], i["SK"]) for i in stored])}
                stored = [_agent_fields_of(item, read.get(str(item["SK"]))) for item in stored]
            version = _next(if_match)
            return Appended((message_from_item(item, caller) for item in stored), created=True, version=version)
        except TransactionCanceled as canceled:
            hot = canceled.item(-1)
            failures = [
                state_failure(canceled, update, live=store.is_live(hot, caller), hot_at=-1, document_at=at)
                for at, update in enumerate(documents, start=-1 - len(documents))
                if canceled.failed(at)
            ]
            if any(isinstance(failure, CountMoved) for failure in failures):
                continue  # a concurrent append of the agent took the positions read: read the counts again
            if failures:
                raise failures[0] from canceled
            reserved = range(len(message_items), len(message_items) + len(reservations))
            if any(canceled.failed(i) for i in reserved):
                # Taken meanwhile (by this very append's first attempt, still in flight when it was retried, the
                # session's condition failing with it), or reserved by an older incarnation of the id: read them
                # again. A stored body answers as stored; an id in use with another body is a conflict.
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
            if canceled.failed(-1) and if_match is not None and tag_of(hot) != if_match:
                raise PreconditionFailed() from canceled
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
        version = _next(if_match)
        return Appended((message_from_item(item, caller) for item in message_items), created=True, version=version)
    raise ServiceUnavailable()


def _next(if_match: SessionTag | None) -> SessionTag | None:
    """The session's ETag after a conditional append on ``if_match`` (every append bumps the version once)."""
    return if_match._replace(version=if_match.version + 1) if if_match is not None else None


AGENT_POSITION = f"{LSI_MESSAGE_ID}SK"
"""The attribute an agent message's position is read from."""


def _agent_fields_of(item: dict[str, Any], stored: dict[str, Any] | None) -> dict[str, Any]:
    """The message ``item`` rebuilt for a retry's answer, with its agent and position as ``stored`` (unchanged
    when the message is gone since)."""
    if stored is None or stored.get("agent_id") is None:
        return item
    return {**item, "agent_id": stored["agent_id"], AGENT_POSITION: stored[AGENT_POSITION]}


def _changes(requests: Sequence[MessageCreate]) -> bool:
    """True when ``requests`` (a single append) change the session's own state document."""
    return len(requests) == 1 and requests[0].state is not None and requests[0].agent_id is None


@dataclass(frozen=True)
class _SharedScope:
    """An append's ``shared`` changes with what names their documents: the ``caller``, the session's
    ``namespace`` and its ``incarnation`` (read before the transaction)."""

    shared: SharedChanges
    caller: str
    namespace: str | None
    incarnation: str

    def updates(self, now: datetime) -> list[StateUpdate]:
        """The Updates of the shared documents the changes name."""
        updates = []
        for change, item_key in (
            (self.shared.user, user_state_key(self.caller, self.namespace)),
            (self.shared.namespace, namespace_state_key(self.namespace) if self.namespace else None),
        ):
            if change is not None and item_key is not None:
                updates.append(
                    StateUpdate(
                        "",
                        None,
                        now,
                        sets=change.set,
                        removes=change.remove,
                        if_version=change.if_version,
                        item_key=item_key,
                    )
                )
        return updates


def _numbered(
    items: list[dict[str, Any]], requests: Sequence[MessageCreate], counts: dict[str, int]
) -> list[dict[str, Any]]:
    """The message ``items`` of ``requests``, those of an agent numbered in its conversation from its count read
    (``counts``), in the order given."""
    taken: dict[str, int] = {}
    numbered = []
    for item, request in zip(items, requests, strict=True):
        if request.agent_id is not None:
            position = counts.get(request.agent_id, 0) + taken.get(request.agent_id, 0)
            taken[request.agent_id] = taken.get(request.agent_id, 0) + 1
            item = with_agent(item, request.agent_id, position)
        numbered.append(item)
    return numbered


def _document_updates(
    session_id: str,
    requests: Sequence[MessageCreate],
    now: datetime,
    counts: dict[str, int],
    state: AppendState | None = None,
) -> list[StateUpdate]:
    """The updates of state documents an append's transaction carries: each agent's count, moved from the count
    read by its messages (with the agent's state change, when a single append of the agent carries one), and a
    single append's change of the session's document (``state`` without ``agent_id``) or a batch's (``state``);
    each change conditioned on its ``if_version`` when given."""
    change = requests[0].state if len(requests) == 1 else None
    updates = []
    for agent in _agents(requests):
        updates.append(
            StateUpdate(
                session_id,
                agent,
                now,
                sets=change.set if change else {},
                removes=change.remove if change else [],
                if_version=change.if_version if change else None,
                count_from=counts.get(agent, 0),
                count_added=sum(1 for r in requests if r.agent_id == agent),
                changes=change is not None,
            )
        )
    if change is not None and requests[0].agent_id is None:
        updates.append(
            StateUpdate(session_id, None, now, sets=change.set, removes=change.remove, if_version=change.if_version)
        )
    if state is not None:
        updates.append(
            StateUpdate(session_id, None, now, sets=state.set, removes=state.remove, if_version=state.if_version)
        )
    return updates


def _found_in_session(
    store: Store, session_id: str, caller: str, message_ids: Sequence[str]
) -> tuple[dict[str, dict[str, Any] | None], dict[str, Any] | None]:
    """The messages of the session named by ``message_ids`` (id -> its message item or ``None``), and the
    session's hot item when one was found (read with them, to drop the messages of older incarnations:
    :func:`_of_incarnation`; ``None`` when none was found). Raises :class:`SessionNotFound`."""
    if not message_ids:
        return {}, None
    current, found = reads.hot_and_messages(store.table, store.clock, session_id, caller, message_ids)
    if not any(item is not None for item in found.values()):
        return found, None
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
    return Appended((message_from_item(item, caller) for item in stored), created=False)


def _version_stored(
    found: dict[str, dict[str, Any] | None], ids: Sequence[str], hot: dict[str, Any] | None
) -> SessionTag | None:
    """The session's ETag to answer a repeated append with: the version the conditional append that stored its
    messages made (their ``SESSION_VERSION``), so a caller whose answer was lost resumes from its own write, not
    from a later writer's; else the session's current version (``hot``: its hot item, as read); with the session's
    incarnation."""
    if hot is None:
        return None
    made = [item.get(SESSION_VERSION) for item in (found.get(message_id) for message_id in ids) if item is not None]
    if made and None not in made:
        return tag_of(hot)._replace(version=max(int(version) for version in made if version is not None))
    return tag_of(hot)


def _stored_alike(
    store: Store,
    ids: Sequence[str],
    hashes: Sequence[str | None],
    found: dict[str, dict[str, Any] | None],
    hot: dict[str, Any],
) -> dict[str, Message]:
    """The messages of an append already stored with the same body (id -> the stored message): ``found`` holds
    the messages of the session ``hot`` (its hot item, as read) read by the client-chosen ids. Raises
    :class:`MessageConflict` when one of them is stored with another body, or is being deleted."""
    stored: dict[str, Message] = {}
    for message_id, digest in zip(ids, hashes, strict=True):
        item = found.get(message_id) if digest is not None else None
        if item is None:
            continue
        if item.get("body_hash") != digest or not rules.shows(hot, item):
            raise MessageConflict("A message with this message_id exists with another body (or being deleted)")
        stored[message_id] = message_from_item(reads.with_content(store.table, item), str(hot["user_id"]))
    return stored


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
