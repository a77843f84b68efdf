"""Memory records: add one to an active session (counted on it), list them by type."""

from __future__ import annotations

from session_service.data import reads
from session_service.data.actions import PutNew, SessionActivity
from session_service.data.dynamo import TransactionCanceled, deserialize
from session_service.data.guard import GuardHit, WriteGuard, transact_guarded
from session_service.data.items import memory_count_attribute, memory_from_item, memory_item
from session_service.data.keys import memory_prefix
from session_service.errors import ServiceUnavailable, SessionNotActive, SessionNotFound
from session_service.models import Memory, MemoryCreate, MemoryList, MemoryType
from session_service.operations import Store


def add_memory(
    store: Store, session_id: str, caller: str, request: MemoryCreate, guard: WriteGuard | None = None
) -> Memory:
    """Store a memory record and count it on the session (``has_memory``) in one transaction.

    With a ``guard``, a retry of an add that was applied returns that record and writes nothing.
    Raises :class:`SessionNotFound`, :class:`SessionNotActive`, :class:`~session_service.errors.IdempotencyKeyReused`.
    """
    now, memory_id = store.clock(), store.new_id()
    item = memory_item(session_id, caller, memory_id, request, now)
    counts = {memory_count_attribute(None): 1, memory_count_attribute(request.memory_type): 1}
    try:
        transact_guarded(
            store.table, [PutNew(item), SessionActivity(session_id, caller, now, counts)], guard, [memory_id], now
        )
    except GuardHit as hit:
        item = memory_item(session_id, caller, hit.ids[0], request, hit.at)
    except TransactionCanceled as canceled:
        if not store.is_live(canceled.item(-1), caller):
            raise SessionNotFound() from canceled
        if canceled.failed(-1):
            raise SessionNotActive() from canceled
        raise ServiceUnavailable() from canceled  # an id collision on a new item: retrying draws new ids
    return memory_from_item(item)


def list_memories(
    store: Store,
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
    hot = reads.hot(store.table, store.clock, session_id, caller)
    prefix = memory_prefix(memory_type)
    scope = f"memory|{session_id}|{caller}|{prefix}|{page_size}"
    start_key = store.cursors.decode(scope, next_token)["k"] if next_token else None
    query = reads.memories_query(session_id, memory_type, str(hot["created_at"]))
    result = store.table.query_page(query, skip=0, take=page_size, start_key=start_key)
    return MemoryList(
        memories=[memory_from_item(deserialize(raw)) for raw in result.items],
        total=int(hot.get(memory_count_attribute(memory_type), 0)),
        next_token=store.cursors.encode(scope, {"k": result.last_evaluated}) if result.last_evaluated else None,
    )
