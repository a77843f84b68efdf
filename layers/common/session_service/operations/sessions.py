"""Sessions: create (one, a batch, over an expired id), read, summary, update, end, exists, delete, list.

Each write is one transaction of the session's items and the owner's counts, so a listing's ``total`` is exact
at once (requests: the access-pattern table of :mod:`session_service.data.keys`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from session_service import rules
from session_service.data import dynamo, reads
from session_service.data.actions import (
    AddCounts,
    DataEdit,
    Put,
    PutNew,
    SessionEdit,
    TakeOver,
    owned_tombstone,
    transact,
)
from session_service.data.dynamo import TransactionCanceled, TransactionInvalid, serialize
from session_service.data.guard import GuardHit, WriteGuard, transact_guarded
from session_service.data.items import (
    is_tombstone,
    list_item_from_item,
    new_session_items,
    session_from_items,
    tag_of,
)
from session_service.data.keys import (
    COUNTS_SK,
    DATA_SK,
    GSI_ACTIVITY,
    GSI_NAMESPACE,
    GSI_STATUS,
    SESSION_SK,
    SUMMARY_SK,
    key,
    namespace_pk,
    namespace_state_key,
    namespace_user_prefix,
    parse_iso,
    session_key,
    state_sk,
    status_index_prefix,
    user_counts_key,
    user_pk,
    user_state_key,
)
from session_service.data.service_actions import NotErasing
from session_service.data.state import Pair, StateUpdate, merged_keys, merged_state, new_session_document, pair
from session_service.data.stats import count_attribute, counts_lost, erasing
from session_service.errors import (
    InvalidStatusTransition,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    SessionIdTaken,
    SessionNotFound,
    SessionReadOnly,
    UserErasing,
)
from session_service.models import (
    NamespaceSessionList,
    Session,
    SessionCreate,
    SessionList,
    SessionListItem,
    SessionStatus,
    SessionSummary,
    SessionTag,
    SessionUpdate,
    dump_json,
    statuses_allowed_before,
)
from session_service.operations import Store

Items = tuple[dict[str, Any], dict[str, Any]]
"""A new session's hot and data items (plain values)."""


def _created() -> dict[str, int]:
    """What a user's counts gain with a new session: one session, one ``active``."""
    return {count_attribute(None): 1, count_attribute(SessionStatus.ACTIVE): 1}


def _refuse_if_erasing(canceled: TransactionCanceled, counts: range) -> None:
    """Raise :class:`UserErasing` when one of a create's ``counts`` actions failed (an erasure runs)."""
    if any(canceled.failed(index) for index in counts):
        raise UserErasing() from canceled


def _new_items(store: Store, caller: str, session_id: str, request: SessionCreate, now: datetime) -> Items:
    return new_session_items(session_id, caller, request, now, request.ttl_seconds or store.ttl_seconds)


def create_session(
    store: Store,
    caller: str,
    request: SessionCreate,
    guard: WriteGuard | None = None,
    *,
    retry: bool = True,
    include_state: bool = False,
) -> tuple[Session, bool]:
    """Create a session for ``caller``; return ``(session, created)``.

    One transaction: the hot item (``attribute_not_exists``), the data item, the caller's counts, and the state
    the request carries: ``state`` (the session's document, version 1), ``user_state`` and ``namespace_state``
    (keys set in the caller's document of the namespace and in the namespace's), all written or none.
    A ``session_id`` the caller already owns returns the existing session with ``created=False`` (seed
    004's "ensure the session exists"; its state is not changed); an expired one is free again and becomes a new,
    empty session (SPEC section 3; a document the older session left is replaced, never merged). With a ``guard``
    (an ``Idempotency-Key``), a retry of a create that was applied returns that session as it was created
    (``created=True``), whatever failed in between. ``retry`` allows one more attempt when an expired session
    changes while it is taken over. A request carrying state, or ``include_state``, answers the session with its
    merged state, read after the write (one BatchGetItem of the documents).
    Raises :class:`SessionIdTaken` when another user owns a live session of that id,
    :class:`~session_service.errors.IdempotencyKeyReused`, :class:`UserErasing`, :class:`PayloadTooLarge` (a
    document would pass DynamoDB's 400 KB item; nothing written).
    """
    session_id, now = request.session_id or store.new_id(), store.clock()
    ttl = request.ttl_seconds or store.ttl_seconds
    hot, data = new_session_items(session_id, caller, request, now, ttl)
    created = _created()
    states = _state_actions(caller, request, session_id, now)
    try:
        actions = [PutNew(hot), Put(data), AddCounts(caller, created), *states]
        transact_guarded(store.table, actions, guard, [session_id], now)
    except GuardHit as hit:
        hot, data = new_session_items(hit.ids[0], caller, request, hit.at, ttl)
    except TransactionInvalid as invalid:  # what a valid create meets: a document's 400 KB
        raise PayloadTooLarge("A state document would pass DynamoDB's item limit (400 KB)") from invalid
    except TransactionCanceled as canceled:
        _refuse_if_erasing(canceled, range(2, 3))
        old = canceled.item(0)
        if old is None:
            raise ServiceUnavailable() from canceled
        # The same instant as the new session's created_at: everything of the old session is older.
        if int(old.get("expires_at", 0)) > int(now.timestamp()) and not is_tombstone(old):
            if old.get("user_id") == caller:
                wanted = include_state or request.carries_state
                return _read_session(store, session_id, caller, include_state=wanted), False
            raise SessionIdTaken() from canceled
        try:
            _take_over(store, old, hot, data, created, guard, states)
        except GuardHit as hit:  # a retry with the same key took the id over first
            hot, data = new_session_items(hit.ids[0], caller, request, hit.at, ttl)
        except TransactionInvalid as invalid:
            raise PayloadTooLarge("A state document would pass DynamoDB's item limit (400 KB)") from invalid
        except TransactionCanceled as lost:
            # The expired session changed under us: TTL removed it, or another create took it over.
            # Once more from the start answers as for that state (201, 200 for the caller's, or 409).
            if not retry:
                raise SessionIdTaken() from lost
            return create_session(store, caller, request, guard, retry=False, include_state=include_state)
    session = session_from_items(hot, data, None)
    if include_state or request.carries_state:
        keys = merged_keys(str(hot["session_id"]), caller, request.namespace)
        found = _by_key(store.table.batch_get(keys))
        session = session.model_copy(update={"state": merged_state(hot, found)})
    return session, True


def _by_key(items: Sequence[dict[str, Any]]) -> dict[Pair, dict[str, Any]]:
    """Items read (plain values) by their plain (``PK``, ``SK``)."""
    return {(str(item["PK"]), str(item["SK"])): item for item in items}


def _state_actions(caller: str, request: SessionCreate, session_id: str, now: datetime) -> list[Any]:
    """The writes of the state a create carries: the session's new document (:func:`new_session_document`),
    and the keys set in the caller's document of the namespace and in the namespace's (UpdateItem, as a PATCH's)."""
    actions: list[Any] = []
    if request.state is not None:
        actions.append(new_session_document(session_id, now, request.state))
    shared = [
        (request.user_state, user_state_key(caller, request.namespace)),
        (request.namespace_state, namespace_state_key(request.namespace) if request.namespace else None),
    ]
    for sets, item_key_ in shared:
        if sets is not None and item_key_ is not None:
            actions.append(StateUpdate("", None, now, sets=sets, item_key=item_key_))
    return actions


def _take_over(
    store: Store,
    old: dict[str, Any],
    hot: dict[str, Any],
    data: dict[str, Any],
    created: dict[str, int],
    guard: WriteGuard | None,
    states: Sequence[Any] = (),
) -> None:
    """Create ``hot``/``data`` (and the ``states`` the create writes) over the expired session ``old`` that TTL
    has not removed yet.

    Conditioned on ``old`` still being that expired incarnation (:class:`~session_service.data.actions.TakeOver`);
    the old owner's counts lose it in the same transaction (the stream function deletes its messages and memory
    records). Raises :class:`TransactionCanceled` when the old session changed first (removed by TTL, or taken
    over).
    """
    caller = str(hot["user_id"])
    counts = [AddCounts(user_id, deltas) for user_id, deltas in rules.take_over_moves(old, caller, created)]
    at = parse_iso(str(hot["created_at"]))
    actions = [TakeOver(old, hot), Put(data), *counts, *states]
    transact_guarded(store.table, actions, guard, [str(hot["session_id"])], at)


def create_sessions(
    store: Store, caller: str, requests: Sequence[SessionCreate], guard: WriteGuard | None = None
) -> list[Session]:
    """Create sessions for ``caller``, all or nothing, in one transaction (SPEC section 9, seed 003's
    ``batch_save_sessions``); return them in the order of ``requests``.

    Each session is two items (hot, data) as in :func:`create_session`, and the caller's counts move once.
    An id whose session expired (or was deleted) is taken over as by a single create. ``requests`` have
    distinct ids (at most 25: TransactWriteItems' 100 actions). With a ``guard`` (an ``Idempotency-Key``),
    a retry of a batch that was applied returns its sessions as they were created.
    Raises :class:`SessionIdTaken` when a ``session_id`` names a live session, the caller's own included
    (nothing is created: a batch creates, it does not "ensure"), :class:`~session_service.errors.
    IdempotencyKeyReused`, :class:`UserErasing`.
    """
    ids, now = [request.session_id or store.new_id() for request in requests], store.clock()
    olds: dict[str, dict[str, Any]] = {}
    for attempt in range(2):
        pairs = [_new_items(store, caller, i, r, now) for i, r in zip(ids, requests, strict=True)]
        try:
            transact_guarded(store.table, _create_actions(caller, pairs, olds), guard, ids, now)
            break
        except GuardHit as hit:
            ids, now = hit.ids, hit.at
            break
        except TransactionCanceled as canceled:
            _refuse_if_erasing(canceled, range(2 * len(pairs), len(canceled.reasons)))
            for index, (hot, _) in enumerate(pairs):
                if not canceled.failed(2 * index):
                    continue
                old = canceled.item(2 * index)
                live = old is not None and int(old.get("expires_at", 0)) > int(now.timestamp())
                # A live id is refused; so is an expired one that changed while it was taken over.
                if attempt or old is None or (live and not is_tombstone(old)):
                    raise SessionIdTaken() from canceled
                olds[str(hot["session_id"])] = old
    else:
        raise SessionIdTaken()
    pairs = [_new_items(store, caller, i, r, now) for i, r in zip(ids, requests, strict=True)]
    return [session_from_items(hot, data, None) for hot, data in pairs]


def _create_actions(caller: str, pairs: Sequence[Items], olds: dict[str, dict[str, Any]]) -> list[Any]:
    """A batch create's transaction: each session's hot item (new, or over the expired ``olds`` of its id) and
    data item, then the counts of the caller and of the expired sessions' owners, one action a user."""
    actions: list[Any] = []
    counts: dict[str, dict[str, int]] = {}
    created = _created()
    for hot, data in pairs:
        old = olds.get(str(hot["session_id"]))
        if old is None:
            actions.append(PutNew(hot))
            moves = [(caller, created)]
        else:
            actions.append(TakeOver(old, hot))
            moves = rules.take_over_moves(old, caller, created)
        actions.append(Put(data))
        for user_id, deltas in moves:
            total = counts.setdefault(user_id, {})
            for name, delta in deltas.items():
                total[name] = total.get(name, 0) + delta
    return [*actions, *(AddCounts(user_id, deltas) for user_id, deltas in counts.items())]


def get_session(store: Store, session_id: str, caller: str, *, include_state: bool = False) -> Session:
    """The caller's live session (hot, data and summary items), with its merged state when ``include_state``
    (:func:`_read_session`). Raises :class:`SessionNotFound` (missing, another user's, expired, deleted)."""
    return _read_session(store, session_id, caller, include_state=include_state)


def _read_session(store: Store, session_id: str, caller: str, *, include_state: bool) -> Session:
    """The caller's live session; with ``include_state``, its merged state too: the session's document read with
    the hot, data and summary items and the caller's counts (one BatchGetItem), then the user's and the
    namespace's documents, named by the session's namespace (one more). Raises :class:`SessionNotFound`."""
    if not include_state:
        return reads.read_session(store.table, store.clock, session_id, caller)
    sort_keys = (SESSION_SK, DATA_SK, SUMMARY_SK, state_sk(None))
    found = reads.session_items(store.table, store.clock, session_id, caller, *sort_keys)
    hot = found[SESSION_SK]
    documents = _by_key(list(found.values()))
    shared = merged_keys(session_id, caller, hot.get("namespace"))[1:]
    documents.update(_by_key(store.table.batch_get(shared)))
    session = session_from_items(hot, found.get(DATA_SK), found.get(SUMMARY_SK))
    return session.model_copy(update={"state": merged_state(hot, documents)})


def get_summary(store: Store, session_id: str, caller: str) -> SessionSummary:
    """The session's counters and summary text (hot and summary items). Raises :class:`SessionNotFound`."""
    hot, summary = reads.hot_and_summary(store.table, store.clock, session_id, caller)
    return session_from_items(hot, None, summary).summary()


def session_exists(store: Store, session_id: str, caller: str) -> None:
    """HEAD (seed 003's ``session_exists``): returns when the caller has the live session (its hot item, read
    with the caller's counts); raises :class:`SessionNotFound` otherwise (missing, another user's, expired,
    deleted, or the caller's data being erased)."""
    reads.hot(store.table, store.clock, session_id, caller)


def update_session(
    store: Store, session_id: str, caller: str, request: SessionUpdate, *, if_match: SessionTag | None = None
) -> Session:
    """Apply a PUT in one transaction and return the session as it then is.

    ``title`` and ``status`` change the hot item, ``metadata`` and ``conversation_data`` (replaced whole)
    the data item; a status change moves the caller's counts in the same transaction, so a listing's
    ``total`` is exact at once. ``status`` follows :data:`~session_service.models.ALLOWED_TRANSITIONS`
    (setting the current status is a no-op); an ``ended`` session is read-only. ``if_match`` is the
    version and incarnation the caller last saw (its ETag). Raises :class:`SessionNotFound`,
    :class:`InvalidStatusTransition`, :class:`SessionReadOnly`, :class:`PreconditionFailed`.
    """
    _apply_update(store, session_id, caller, request, if_match)
    return reads.read_session(store.table, store.clock, session_id, caller)


def end_session(store: Store, session_id: str, caller: str, *, if_match: SessionTag | None = None) -> None:
    """DELETE: set status ``ended`` (read-only from then on) in one transaction. Ending an ended session is
    a no-op.

    Raises :class:`SessionNotFound`, :class:`InvalidStatusTransition` (from completed or archived),
    :class:`PreconditionFailed`.
    """
    _apply_update(store, session_id, caller, SessionUpdate(status=SessionStatus.ENDED), if_match)


def _apply_update(
    store: Store, session_id: str, caller: str, request: SessionUpdate, if_match: SessionTag | None
) -> None:
    """The write of :func:`update_session`; raises its errors."""
    changes = request.model_dump(exclude_unset=True, exclude_none=True)
    target = SessionStatus(changes.pop("status")) if "status" in changes else None
    before = rules.predecessor(target) if target else None
    try:
        _update(store, session_id, caller, changes, target, before, if_match)
    except TransactionCanceled as canceled:
        old = canceled.item(0)
        if not store.is_live(old, caller):
            raise SessionNotFound() from canceled
        assert old is not None
        if if_match is not None and tag_of(old) != if_match:
            raise PreconditionFailed() from canceled
        if target is not None and old["status"] not in statuses_allowed_before(target):
            raise InvalidStatusTransition(old["status"], target.value) from canceled
        if target is None or old["status"] != target or before is None or (changes and target.is_read_only):
            raise SessionReadOnly() from canceled
        # The session has the requested status already: the status part is a no-op, the rest applies.
        try:
            _update(store, session_id, caller, changes, target, None, if_match)
        except TransactionCanceled as again:
            raise SessionReadOnly() if store.is_live(again.item(0), caller) else SessionNotFound() from again


def _update(
    store: Store,
    session_id: str,
    caller: str,
    changes: dict[str, Any],
    target: SessionStatus | None,
    before: SessionStatus | None,
    if_match: SessionTag | None,
) -> None:
    """The PUT transaction (:class:`~session_service.data.actions.SessionEdit`, the data item's edit, the counts
    of a transition, or else a check of the counts), conditioned last on no erasure of the caller running: a write
    during an erasure is refused before it writes, as every read answers (:class:`SessionNotFound`, SPEC section
    9). Raises :class:`TransactionCanceled` with the hot item first."""
    actions: list[Any] = [SessionEdit(session_id, caller, store.clock(), changes, target, before, if_match)]
    data: dict[str, str] = {
        name: dump_json(changes[name]) for name in ("metadata", "conversation_data") if name in changes
    }
    if data:
        actions.append(DataEdit(session_id, data))
    if target is not None and before is not None:
        moves = {count_attribute(before): -1, count_attribute(target): 1}
        actions.append(AddCounts(caller, moves, unless_erasing=True))
    else:
        actions.append(NotErasing(caller))
    try:
        transact(store.table, actions)
    except TransactionCanceled as canceled:
        if canceled.failed(len(actions) - 1):
            raise SessionNotFound() from canceled
        raise


def delete_session(store: Store, session_id: str, caller: str, *, if_match: SessionTag | None = None) -> None:
    """DELETE ``?permanent=true``: delete the caller's session for good (:func:`delete_sessions`).

    ``if_match`` is the version and incarnation the caller last saw (its ETag). Raises :class:`SessionNotFound`,
    :class:`PreconditionFailed`.
    """
    delete_sessions(store, caller, [session_id], if_match=if_match)


def delete_sessions(
    store: Store, caller: str, session_ids: Sequence[str], *, if_match: SessionTag | None = None
) -> int:
    """Delete the caller's live sessions for good, all or nothing; return how many (SPEC section 9, seed
    003's ``delete_session`` and ``batch_delete_sessions``).

    Reads the hot items, then one transaction: each hot item becomes a tombstone
    (:func:`~session_service.data.actions.owned_tombstone`), conditioned on being the caller's, live, and the
    incarnation and status read, and the caller's counts lose them (so a listing's ``total`` drops at once).
    Every reader treats a tombstone as gone from that moment; the stream function deletes the sessions'
    items afterwards, however many there are. ``session_ids`` are distinct (at most 25 with the counts:
    TransactWriteItems' 100 actions); ``if_match`` (one session) is the ETag the caller last saw.
    Raises :class:`SessionNotFound` when one of them is missing, another user's, expired or deleted
    (nothing is deleted), :class:`PreconditionFailed`, :class:`ServiceUnavailable` when their statuses
    keep changing.
    """
    for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
        found = {str(item["session_id"]): item for item in store.table.batch_get([session_key(i) for i in session_ids])}
        hots = [found.get(session_id) for session_id in session_ids]
        if not all(store.is_live(hot, caller) for hot in hots):
            raise SessionNotFound()
        live = [hot for hot in hots if hot is not None]
        if if_match is not None and any(tag_of(hot) != if_match for hot in live):
            raise PreconditionFailed()
        now = store.clock()
        tombstones = [owned_tombstone(hot, caller, now, if_match) for hot in live]
        try:
            transact(store.table, [*tombstones, AddCounts(caller, counts_lost(live))])
            return len(live)
        except TransactionCanceled as canceled:
            failed = [canceled.item(i) for i in range(len(live)) if canceled.failed(i)]
            if any(not store.is_live(old, caller) for old in failed):
                raise SessionNotFound() from canceled
            if if_match is not None and any(tag_of(old) != if_match for old in failed if old):
                raise PreconditionFailed() from canceled
            # A status changed since the read: the counts to move changed with it; read again.
    raise ServiceUnavailable()


def list_user_sessions(
    store: Store,
    user_id: str,
    *,
    status: SessionStatus | None = None,
    namespace: str | None = None,
    page: int = 1,
    page_size: int = 50,
    next_token: str | None = None,
    include_state: bool = False,
) -> SessionList:
    """A page of the user's live sessions (of one ``status``, or all; of one ``namespace``, or all), most recent
    activity first.

    Queries GSI1 (all), GSI2 (``begins_with(GSI2SK, "<status>#")``) or GSI3 (a namespace's:
    ``begins_with(GSI3SK, "<user_id>#")``), keys only, then reads the rows' hot items with the user's counts:
    ``total`` is exact at read time (the user's sessions in every namespace: no count is kept per namespace).
    A namespace and a status together are not served (the route refuses them: 422). The rows of a page are
    ordered by their exact ``last_activity`` (the index, by activity to the minute). A row whose session expired
    (TTL runs days late) or changed status since the index was read is left out, so a page may be shorter than
    ``page_size``. With ``include_state`` each row carries its merged state (:func:`_with_states`): its session's
    document read with the rows, and with a ``namespace`` the user's and the namespace's documents too (else they
    are named by the rows' namespaces: one more BatchGetItem). Raises :class:`~session_service.errors.InvalidCursor`
    for a foreign or altered cursor.
    """
    scope = f"sessions|{user_id}|{status.value if status else ''}|{page_size}"
    if namespace is not None:
        scope += f"|{namespace}"
    start_key, skip = None, (page - 1) * page_size
    if next_token:
        position = store.cursors.decode(scope, next_token)
        start_key, skip, page = position["k"], 0, int(position["p"])
    values: dict[str, Any] = {":pk": user_pk(user_id)}
    if namespace is not None:
        index = GSI_NAMESPACE
        condition = f"{index}PK = :pk AND begins_with({index}SK, :user)"
        values = {":pk": namespace_pk(namespace), ":user": namespace_user_prefix(user_id)}
    elif status is None:
        index, condition = GSI_ACTIVITY, f"{GSI_ACTIVITY}PK = :pk"
    else:
        index = GSI_STATUS
        condition = f"{index}PK = :pk AND begins_with({index}SK, :status)"
        values[":status"] = status_index_prefix(status)
    query = {
        "IndexName": index,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": serialize(values),
        "ScanIndexForward": False,
    }
    result = store.table.query_page(query, skip=skip, take=page_size, start_key=start_key)
    row_keys = [{"PK": raw["PK"], "SK": raw["SK"]} for raw in result.items]
    documents = _document_keys(row_keys, [user_id], namespace) if include_state else []
    found = _by_key(store.table.batch_get([*row_keys, user_counts_key(user_id), *documents]))
    counts = found.pop((user_pk(user_id), COUNTS_SK), {})
    if erasing(counts):  # gone for every reader from the moment the erasure was accepted
        return SessionList(sessions=[], total=0, page=page, page_size=page_size, next_token=None)
    hots = []
    for row_key in row_keys:
        hot = found.get(pair(row_key))
        if store.is_live(hot, user_id) and (status is None or (hot is not None and hot["status"] == status.value)):
            assert hot is not None
            hots.append(hot)
    rows = _with_states(store, hots, found, documents) if include_state else [list_item_from_item(h) for h in hots]
    # The index orders by activity to the minute (keys.INDEX_GRAIN_SECONDS); the rows know it exactly.
    rows.sort(key=lambda row: row.last_activity, reverse=True)
    return SessionList(
        sessions=rows,
        total=max(int(counts.get(count_attribute(status), 0)), 0),
        page=page,
        page_size=page_size,
        next_token=store.cursors.encode(scope, {"k": result.last_evaluated, "p": page + 1})
        if result.last_evaluated
        else None,
    )


def list_namespace_sessions(
    store: Store, namespace: str, *, page_size: int = 50, next_token: str | None = None, include_state: bool = False
) -> NamespaceSessionList:
    """A page of every user's live sessions in ``namespace`` (a trusted caller's listing), by user, each user's
    least recent activity first (the index's order, to the minute; exact within a page): one Query of GSI3
    (``GSI3PK = NS#<namespace>``, keys only) and one BatchGetItem of the rows' hot items and their owners' counts
    (a user being erased shows none), whatever the namespace holds. A row whose session expired or was deleted
    since the index was read is left out, so a page may be shorter than ``page_size``. With ``include_state`` each
    row carries its merged state (its own user's document), read in the same BatchGetItem (:func:`_with_states`).
    Raises :class:`~session_service.errors.InvalidCursor` for a foreign or altered cursor."""
    scope = f"namespace|{namespace}|{page_size}"
    items, cursor = store.index_page(GSI_NAMESPACE, namespace_pk(namespace), scope, page_size, next_token)
    row_keys = [{"PK": raw["PK"], "SK": raw["SK"]} for raw in items]
    owners = sorted({str(raw[f"{GSI_NAMESPACE}SK"]["S"]).split("#", 1)[0] for raw in items})
    documents = _document_keys(row_keys, owners, namespace) if include_state else []
    counts = [user_counts_key(owner) for owner in owners]
    found = _by_key(store.table.batch_get([*row_keys, *counts, *documents]))
    erased = {owner for owner in owners if erasing(found.get((user_pk(owner), COUNTS_SK), {}))}
    hots = []
    for row_key in row_keys:
        hot = found.get(pair(row_key))
        if hot is not None and hot["user_id"] not in erased and store.is_live(hot, str(hot["user_id"])):
            hots.append(hot)
    rows = _with_states(store, hots, found, documents) if include_state else [list_item_from_item(h) for h in hots]
    rows.sort(key=lambda row: (row.user_id, row.last_activity))
    return NamespaceSessionList(sessions=rows, namespace=namespace, next_token=cursor)


def _document_keys(row_keys: Sequence[dict[str, Any]], users: Sequence[str], namespace: str | None) -> list[Any]:
    """The state documents a listing page reads with its rows' hot items: each row's session document and, when the
    listing names its ``namespace``, each of ``users``' documents of it and the namespace's."""
    keys = [key(str(row_key["PK"]["S"]), state_sk(None)) for row_key in row_keys]
    if namespace is not None:
        keys += [*(user_state_key(user, namespace) for user in users), namespace_state_key(namespace)]
    return keys


def _with_states(
    store: Store, hots: Sequence[dict[str, Any]], found: dict[Pair, dict[str, Any]], read: Sequence[dict[str, Any]]
) -> list[SessionListItem]:
    """The rows of the hot items ``hots``, each with its merged state (its own user's document of its namespace)
    from ``found`` (the page's BatchGetItem, which asked for the keys ``read``); documents not asked for yet (the
    rows' namespaces were unknown) are read in one more BatchGetItem."""
    asked = {pair(item_key) for item_key in read}
    wanted = {
        pair(item_key): item_key
        for hot in hots
        for item_key in merged_keys(str(hot["session_id"]), str(hot["user_id"]), hot.get("namespace"))
    }
    missing = [item_key for name, item_key in wanted.items() if name not in asked]
    documents = {**found, **(_by_key(store.table.batch_get(missing)) if missing else {})}
    return [list_item_from_item(hot).model_copy(update={"state": merged_state(hot, documents)}) for hot in hots]
