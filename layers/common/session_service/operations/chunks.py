"""Streamed replies: a chunk appended to a reply still ``in_progress`` (finalizing it is a message update).

A chunk is an item of its own (so a chunk costs what it weighs), counted on its message and recorded as activity
on the session in one transaction; readers add a reply's chunks to its content
(:func:`~session_service.data.reads.with_content`).
"""

from __future__ import annotations

from typing import Any

from session_service import rules
from session_service.data import dynamo, reads
from session_service.data.actions import MessageChange, PutNew, SessionActivity, transact
from session_service.data.dynamo import TransactionCanceled
from session_service.data.items import chunk_item, is_streaming, message_from_item
from session_service.data.keys import chunk_sk, key
from session_service.errors import (
    MessageConflict,
    MessageNotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    SessionNotActive,
    SessionNotFound,
)
from session_service.models import MAX_MESSAGE_BYTES, ChunkCreate, Message, SessionStatus
from session_service.operations import Store


def add_chunk(store: Store, session_id: str, caller: str, message_id: str, request: ChunkCreate) -> Message:
    """Append chunk ``request.index`` to a streamed reply; return the reply with its content so far.

    One transaction: Put the chunk, count it on the message (``chunks = index``: consecutive indexes only), and
    record activity on the session. A repeated index with the same content writes nothing. Raises
    :class:`SessionNotFound`, :class:`MessageNotFound`, :class:`SessionNotActive`, :class:`MessageConflict` (a
    gap, another content for an index, or a reply already finalized), :class:`PayloadTooLarge` (past 256 KiB of
    content).
    """
    cut_count: int | None = None
    for _ in range(dynamo.MAX_TRANSACTION_ATTEMPTS):
        item = reads.find_message(store.table, session_id, message_id)
        # A message stored before messages were trimmed names its owner; the session's update checks it anyway.
        if item is None or item.get("user_id", caller) != caller:
            reads.hot(store.table, store.clock, session_id, caller)  # a session missing or another user's answers
            raise MessageNotFound()  # as on every route
        count = int(item.get("chunks", 0))
        size = len(request.content.encode("utf-8"))
        too_big = int(item.get("content_bytes", 0)) + size > MAX_MESSAGE_BYTES
        if not is_streaming(item) or request.index != count or too_big:
            # Answered without writing: first, as every read does, the session must be live and show it.
            hot = reads.hot(store.table, store.clock, session_id, caller)
            if not rules.shows(hot, item):
                raise MessageNotFound()
        if not is_streaming(item):
            raise MessageConflict(f"The reply is finalized ({item['status']}): it takes no more chunks")
        if request.index < count:
            stored = _stored_chunk(store, item, request.index)
            if stored is None or stored.get("content") != request.content:
                raise MessageConflict(f"Chunk {request.index} was stored with other content")
            return message_from_item(reads.with_content(store.table, item), caller)
        if request.index > count:
            raise MessageConflict(f"Chunk {request.index} does not follow: the next index is {count}")
        if int(item.get("content_bytes", 0)) + size > MAX_MESSAGE_BYTES:
            raise PayloadTooLarge(f"The reply would exceed {MAX_MESSAGE_BYTES} bytes of content")
        chunk = chunk_item(item, request.index, request.content)
        count_it = MessageChange(
            item, "ADD chunks :one, content_bytes :size, version :one", values={":one": 1, ":size": size}
        )
        # The message is of this incarnation and not deleted: above every cut, or (once a cut lies above
        # it) outside the cuts of the session as read, with no truncation since.
        condition = "created_at <= :born AND (attribute_not_exists(cut_through) OR cut_through < :sk)"
        values: dict[str, Any] = {":born": item["created_at"], ":sk": item["SK"]}
        if cut_count is not None:
            condition = "created_at <= :born AND cut_count = :cut_count"
            values = {":born": item["created_at"], ":cut_count": cut_count}
        activity = SessionActivity(session_id, caller, store.clock(), {}, condition=condition, values=values)
        try:
            transact(store.table, [PutNew(chunk), count_it, activity])
        except TransactionCanceled as canceled:
            if canceled.failed(-1):
                cut_count = _explain_refusal(store, session_id, caller, message_id, canceled.item(-1))
            continue  # another chunk or a change of the message came first: decide again
        grown = {**item, "chunks": count + 1, "version": int(item["version"]) + 1}
        return message_from_item(reads.with_content(store.table, grown), caller)
    raise ServiceUnavailable()


def _explain_refusal(store: Store, session_id: str, caller: str, message_id: str, hot: dict[str, Any] | None) -> int:
    """Raise why the session refused a chunk: gone, not active, or the message deleted by a cut. When none of
    these holds, a cut of other messages lies above the reply (a truncation after a later message): return the
    session's ``cut_count``, on which the next attempt is conditioned instead."""
    if not store.is_live(hot, caller) or hot is None:
        raise SessionNotFound()
    if hot.get("status") != SessionStatus.ACTIVE:
        raise SessionNotActive()
    item = reads.find_message(store.table, session_id, message_id)
    if item is None or not rules.shows(hot, item):
        raise MessageNotFound()
    return int(hot.get("cut_count", 0))


def _stored_chunk(store: Store, message: dict[str, Any], index: int) -> dict[str, Any] | None:
    """Chunk ``index`` of a streamed reply as stored (read consistently), or ``None``."""
    return store.table.get(key(str(message["PK"]), chunk_sk(str(message["SK"]), index)), consistent=True)
