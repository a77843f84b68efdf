"""State documents: a session's own and each agent's, read with the session and changed by top-level key; a
user's of a namespace and a namespace's, shared by sessions.

Each document is an item beside the session's hot item (:mod:`session_service.data.state`): reading one reads
the hot item, the caller's counts and the document in one BatchGetItem; changing one is one transaction of a
ConditionCheck of the hot item (live, the caller's, active) and one UpdateItem of the document (its keys set and
removed by name, its version bumped), conditioned on the version the caller read when it names one, then one
BatchGetItem of the hot item and the document for the answer (a document an older incarnation of the session id
left is deleted there and the change made again). The hot item is not written: an append costs what it did, and
a state change moves no session counter.
"""

from __future__ import annotations

import contextlib
from datetime import datetime
from typing import Any

from session_service.data import reads
from session_service.data.actions import Action, transact
from session_service.data.dynamo import TransactionCanceled, TransactionInvalid
from session_service.data.keys import SESSION_SK, namespace_state_key, state_sk, user_counts_key, user_state_key
from session_service.data.service_actions import NotErasing
from session_service.data.state import (
    SessionCheck,
    StaleStateDelete,
    StateUpdate,
    is_current,
    merged_keys,
    merged_state,
    pair,
    shared_state_from_item,
    state_failure,
    state_from_item,
)
from session_service.data.stats import erasing
from session_service.errors import (
    AgentExists,
    AgentNotFound,
    PayloadTooLarge,
    PreconditionFailed,
    ServiceUnavailable,
    UserErasing,
)
from session_service.models import SessionTag
from session_service.models.state import (
    AgentCreate,
    MergedState,
    SharedStateDocument,
    StateChange,
    StateDocument,
)
from session_service.operations import Store

STALE_ATTEMPTS = 3
"""Writes of one change: a stale document met is deleted once, so the second normally lands (a third covers a
document removed under us)."""


def get_state(store: Store, session_id: str, caller: str, agent_id: str | None = None) -> StateDocument:
    """The caller's session's state document (``agent_id`` ``None``; version 0 and empty when never written), or
    the document of its agent ``agent_id``: one consistent BatchGetItem of the hot item, the caller's counts and
    the document. Raises :class:`SessionNotFound`, :class:`AgentNotFound` (no such agent)."""
    found = reads.session_items(store.table, store.clock, session_id, caller, SESSION_SK, state_sk(agent_id))
    item = found.get(state_sk(agent_id))
    if not is_current(item, found[SESSION_SK]):
        item = None
    if item is None and agent_id is not None:
        raise AgentNotFound()
    return state_from_item(session_id, agent_id, item, found[SESSION_SK])


def change_state(
    store: Store,
    session_id: str,
    caller: str,
    change: StateChange,
    *,
    agent_id: str | None = None,
    if_match: SessionTag | None = None,
) -> StateDocument:
    """Apply ``change`` (keys set and removed) to the session's state document (``agent_id`` ``None``: created by
    its first change) or to the document of its agent ``agent_id`` (which must exist), atomically, on the ETag
    ``if_match`` when given (the document's version, 0: it must not exist yet, and the session's incarnation);
    answer the document after the change (read again, consistently). Writers of different keys without
    ``if_match`` all land (DynamoDB applies each UpdateItem whole). Raises :class:`SessionNotFound`,
    :class:`SessionNotActive`, :class:`AgentNotFound`, :class:`PreconditionFailed`, :class:`PayloadTooLarge` (the
    document would pass DynamoDB's 400 KB item), nothing stored."""
    update = StateUpdate(
        session_id,
        agent_id,
        store.clock(),
        sets=change.set,
        removes=change.remove,
        if_version=if_match.version if if_match is not None else None,
        exists=True if agent_id is not None else None,
    )
    return _apply(store, session_id, caller, update, if_match.created_at if if_match is not None else None)


def create_agent(store: Store, session_id: str, caller: str, agent_id: str, request: AgentCreate) -> StateDocument:
    """Create the session's agent ``agent_id`` with its state document ``request.state`` (version 1). Raises
    :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`AgentExists` (nothing stored)."""
    now = store.clock()
    return _apply(store, session_id, caller, StateUpdate(session_id, agent_id, now, sets=request.state, exists=False))


def _apply(
    store: Store, session_id: str, caller: str, update: StateUpdate, incarnation: datetime | None = None
) -> StateDocument:
    """Run ``update`` (:func:`_write`; on the session's ``incarnation`` when given) and answer the document after
    it, read again with the hot item.

    A document an older incarnation of the session id left (deleted or expired, its items not yet removed by the
    stream function) is never the session's: a write that met one (it landed on it, or its condition failed on
    it) deletes it and runs again, so another user's keys are never shown nor kept, and a create or ``If-Match: 0``
    holds. Raises what :func:`_write` raises, :class:`ServiceUnavailable` when stale documents keep coming back.
    """
    for _ in range(STALE_ATTEMPTS):
        try:
            _write(store, session_id, caller, update, incarnation)
        except (PreconditionFailed, AgentExists):
            if _drop_stale(store, session_id, caller, update.agent_id) is not None:  # current: a true refusal
                raise
            continue
        document = _drop_stale(store, session_id, caller, update.agent_id)
        if document is not None:
            return document
    raise ServiceUnavailable("The session's state document kept changing; retry")


def _write(
    store: Store, session_id: str, caller: str, update: StateUpdate, incarnation: datetime | None = None
) -> None:
    """Run ``update`` with the ConditionCheck of the session (on its ``incarnation`` when given) in one
    transaction; turn a failed condition into the domain error it means, from the items DynamoDB returns (no
    second read)."""
    try:
        transact(store.table, [SessionCheck(session_id, caller, update.now, incarnation), update])
    except TransactionCanceled as canceled:
        live = store.is_live(canceled.item(0), caller)
        raise state_failure(canceled, update, live=live, hot_at=0, document_at=1, incarnation=incarnation) from canceled
    except TransactionInvalid as invalid:  # the only refusal a valid change meets: the item's 400 KB
        raise PayloadTooLarge("The state document would pass DynamoDB's item limit (400 KB)") from invalid


def _drop_stale(store: Store, session_id: str, caller: str, agent_id: str | None) -> StateDocument | None:
    """The document as stored now (one consistent BatchGetItem with the hot item), or ``None`` after deleting it
    when an older incarnation of the session id left it (:class:`StaleStateDelete`: kept if written since)."""
    found = reads.session_items(store.table, store.clock, session_id, caller, SESSION_SK, state_sk(agent_id))
    item = found.get(state_sk(agent_id))
    if item is None or is_current(item, found[SESSION_SK]):
        return state_from_item(session_id, agent_id, item, found[SESSION_SK])
    with contextlib.suppress(TransactionCanceled):  # removed meanwhile (the stream function, a concurrent writer)
        transact(store.table, [StaleStateDelete(session_id, agent_id, str(item["created_at"]))])
    return None


def get_shared_state(store: Store, user_id: str | None, namespace: str | None) -> SharedStateDocument:
    """The state document of ``user_id`` in ``namespace`` (a user's), or of ``namespace`` (``user_id`` ``None``: a
    namespace's, shared by its users); version 0 and empty when never written. A namespace's: one consistent
    GetItem. A user's: one consistent BatchGetItem of the document and the user's counts; while the user's data is
    being erased the document reads as never written (SPEC section 9: gone for every reader from the moment the
    erasure was accepted, as the user's usage reads zeros)."""
    item_key = _shared_key(user_id, namespace)
    if user_id is None:
        item: dict[str, Any] | None = store.table.get(item_key, consistent=True)
        return shared_state_from_item("namespace", namespace, None, item)
    found = {(str(i["PK"]), str(i["SK"])): i for i in store.table.batch_get([item_key, user_counts_key(user_id)])}
    counts = found.get(pair(user_counts_key(user_id)))
    item = None if erasing(counts) else found.get(pair(item_key))
    return shared_state_from_item("user", namespace, user_id, item)


def change_shared_state(
    store: Store, user_id: str | None, namespace: str | None, change: StateChange, *, if_match: int | None = None
) -> SharedStateDocument:
    """Apply ``change`` to the state document of ``user_id`` in ``namespace`` (a user's) or of ``namespace``
    (``user_id`` ``None``), atomically, on the version ``if_match`` when given (0: never changed); answer the
    document after the change. Who may change a namespace's is the route's decision (a trusted caller). A user's
    change is conditioned on no erasure of the user's data running (a ConditionCheck of the user's counts in the
    same transaction). Raises :class:`PreconditionFailed`, :class:`UserErasing`, :class:`PayloadTooLarge` (nothing
    stored)."""
    update = StateUpdate(
        "",
        None,
        store.clock(),
        sets=change.set,
        removes=change.remove,
        if_version=if_match,
        item_key=_shared_key(user_id, namespace),
    )
    actions: list[Action] = [update, *([NotErasing(user_id)] if user_id is not None else [])]
    try:
        transact(store.table, actions)
    except TransactionCanceled as canceled:  # the user's erasure, else the version named
        if canceled.failed(1):
            raise UserErasing() from canceled
        raise PreconditionFailed("The state document was modified: its ETag does not match") from canceled
    except TransactionInvalid as invalid:
        raise PayloadTooLarge("The state document would pass DynamoDB's item limit (400 KB)") from invalid
    return get_shared_state(store, user_id, namespace)


def get_merged_state(store: Store, session_id: str, caller: str) -> MergedState:
    """The caller's session's state document with the caller's document of the session's namespace and the
    namespace's (none for a session in no namespace): one consistent BatchGetItem of the hot item, the caller's
    counts and the session's document, then one of the two shared documents. Raises :class:`SessionNotFound`."""
    found = reads.session_items(store.table, store.clock, session_id, caller, SESSION_SK, state_sk(None))
    hot = found[SESSION_SK]
    documents = {(str(item["PK"]), str(item["SK"])): item for item in found.values()}
    shared = merged_keys(session_id, caller, hot.get("namespace"))[1:]
    documents.update({(str(item["PK"]), str(item["SK"])): item for item in store.table.batch_get(shared)})
    return merged_state(hot, documents)


def _shared_key(user_id: str | None, namespace: str | None) -> dict[str, Any]:
    if user_id is not None:
        return user_state_key(user_id, namespace)
    assert namespace is not None
    return namespace_state_key(namespace)
