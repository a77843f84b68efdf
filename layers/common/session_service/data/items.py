"""The items of sessions, messages, chunks, memory records, tombstones and erasures: their attribute names, the
builders of new items (plain values) and the mapping of items to models (keys: :mod:`session_service.data.keys`).

Times are ISO 8601 UTC strings with microseconds and ``Z`` (so they sort as text); ``expires_at`` is epoch
seconds (the table's TTL attribute, on hot items only); money is a DynamoDB number (exact decimal).
``metadata``, ``conversation_data`` and a message's ``data`` are stored as JSON text, so any JSON value
round-trips exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from session_service.data.keys import (
    DATA_SK,
    ERASURE_PREFIX,
    ERASURE_SK,
    GSI_ACTIVITY,
    GSI_NAMESPACE,
    GSI_STATUS,
    LSI_MESSAGE_ID,
    MESSAGE_ID_PREFIX,
    SESSION_SK,
    SUMMARY_SK,
    agent_message_key,
    chunk_sk,
    index_keys,
    iso,
    memory_prefix,
    message_id_of,
    message_sk,
    micros_of,
    namespace_pk,
    parse_iso,
    position_of,
    seconds_of_micros,
    session_id_of,
    session_pk,
    time_ordered_id,
    timestamp_message_key,
    timestamp_micros,
    timestamp_of,
    user_pk,
)
from session_service.models import (
    MAX_CHUNK_INDEX,
    Erasure,
    ErasureStatus,
    Memory,
    MemoryCreate,
    MemoryType,
    Message,
    MessageCreate,
    MessageStatus,
    MessageType,
    Session,
    SessionCreate,
    SessionListItem,
    SessionStatus,
    SessionTag,
    data_bytes,
    dump_json,
)

ENTITY = "entity"
"""Attribute naming an item's kind (the values below); the stream function reads it from images."""
SESSION_ENTITY = "session"
DATA_ENTITY = "session_data"
SUMMARY_ENTITY = "session_summary"
MESSAGE_ENTITY = "message"
MEMORY_ENTITY = "memory"
CHUNK_ENTITY = "message_chunk"
MESSAGE_ID_ENTITY = "message_id"
MARK_ENTITY = "stream_mark"
GUARD_ENTITY = "write_guard"
ERASURE_ENTITY = "erasure"
ERASED_BY = "by_erasure"
"""Set on a tombstone an erasure made: its stream clean-up counts the session in the erasure's progress."""
ERASURE_RETENTION_SECONDS = 30 * 24 * 3600
"""An erasure's progress record expires (TTL) this long after the erasure finished (SPEC section 9)."""
DELETED_STATUS = "deleted"
"""The ``status`` of a permanently deleted session's hot item (a tombstone, :func:`tombstone_update`): internal,
never a :class:`~session_service.models.SessionStatus`, never in an index, never answered (it is expired)."""


def erasure_item(user_id: str, now: datetime) -> dict[str, Any]:
    """A new erasure's progress record: ``status`` erasing, its counters at zero (``sessions_erased``: sessions
    turned into tombstones, ``sessions_cleared``: of those, cleaned up by the stream function, ``items_deleted``,
    ``passes``). It holds the user id and counts, nothing else (SPEC section 9)."""
    return {
        "PK": f"{ERASURE_PREFIX}{user_id}",
        "SK": ERASURE_SK,
        ENTITY: ERASURE_ENTITY,
        "user_id": user_id,
        "status": "erasing",
        "started_at": iso(now),
        "sessions_erased": 0,
        "sessions_cleared": 0,
        "items_deleted": 0,
        "passes": 0,
    }


def is_tombstone(item: dict[str, Any] | None) -> bool:
    """True when ``item`` is a permanently deleted session's hot item (:data:`DELETED_STATUS`)."""
    return item is not None and item.get("status") == DELETED_STATUS


def tombstone_bound(item: dict[str, Any]) -> str:
    """The ISO time just above a tombstone's delete (its ``updated_at``): every item of the deleted incarnation
    was created before it; a later incarnation of the id is created after the delete, so after it."""
    return iso(parse_iso(str(item["updated_at"])) + timedelta(microseconds=1))


def new_session_items(
    session_id: str, caller: str, request: SessionCreate, now: datetime, ttl: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A new session's hot and data items (plain values): ``active``, empty counters, ``expires_at = now +
    ttl`` (seconds)."""
    created = iso(now)
    hot = {
        "PK": session_pk(session_id),
        "SK": SESSION_SK,
        ENTITY: SESSION_ENTITY,
        "session_id": session_id,
        "user_id": caller,
        "title": request.title,
        "status": SessionStatus.ACTIVE.value,
        "message_count": 0,
        "memory_count": 0,
        "total_tokens": 0,
        "total_cost": Decimal(0),
        "created_at": created,
        "updated_at": created,
        "last_activity": created,
        "ttl_seconds": ttl,
        "expires_at": int(now.timestamp()) + ttl,
        "version": 1,
        "cuts": {},
        "cut_count": 0,
        f"{GSI_ACTIVITY}PK": user_pk(caller),
        f"{GSI_STATUS}PK": user_pk(caller),
    }
    if request.namespace is not None:  # fixed at creation: only GSI3's sort key moves afterwards
        hot.update({"namespace": request.namespace, f"{GSI_NAMESPACE}PK": namespace_pk(request.namespace)})
    hot.update(index_keys(hot))
    data = {
        "PK": session_pk(session_id),
        "SK": DATA_SK,
        ENTITY: DATA_ENTITY,
        "session_id": session_id,
        "created_at": created,
        "metadata": dump_json(request.metadata),
        "conversation_data": dump_json(request.conversation_data),
    }
    return hot, data


def summary_item(session_id: str, incarnation: str, summary: str, through: str, messages: int) -> dict[str, Any]:
    """A session's summary item: the text, the sort key of the newest message it covers, and the session's
    ``message_count`` when it was made."""
    return {
        "PK": session_pk(session_id),
        "SK": SUMMARY_SK,
        ENTITY: SUMMARY_ENTITY,
        "session_id": session_id,
        "created_at": incarnation,
        "session_summary": summary,
        "summary_through": through,
        "summary_messages": messages,
    }


def summary_text(hot: dict[str, Any], summary: dict[str, Any] | None) -> str:
    """The summary of the session ``hot`` describes: ``''`` when there is none yet, or it belongs to an
    earlier incarnation of the id."""
    if summary is None or summary.get("created_at") != hot.get("created_at"):
        return ""
    return str(summary.get("session_summary", ""))


def tag_of(hot: dict[str, Any]) -> SessionTag:
    """The ETag's :class:`SessionTag` of the session ``hot`` (its hot item, plain values): its version and its
    incarnation (``created_at``)."""
    return SessionTag(int(hot.get("version", 0)), parse_iso(str(hot["created_at"])))


def session_from_items(hot: dict[str, Any], data: dict[str, Any] | None, summary: dict[str, Any] | None) -> Session:
    """Map a session's hot, data and summary items (plain values) to the :class:`Session` model."""
    same = data is not None and data.get("created_at") == hot["created_at"]
    return Session(
        session_id=hot["session_id"],
        user_id=hot["user_id"],
        title=hot.get("title", ""),
        status=SessionStatus(hot["status"]),
        conversation_data=json.loads(data.get("conversation_data", "{}")) if same and data else {},
        metadata=json.loads(data.get("metadata", "{}")) if same and data else {},
        is_active=hot["status"] == SessionStatus.ACTIVE,
        message_count=int(hot.get("message_count", 0)),
        total_tokens=int(hot.get("total_tokens", 0)),
        total_cost=Decimal(hot.get("total_cost", 0)),
        session_summary=summary_text(hot, summary),
        created_at=parse_iso(hot["created_at"]),
        updated_at=parse_iso(hot["updated_at"]),
        last_activity=parse_iso(hot["last_activity"]),
        expires_at=datetime.fromtimestamp(int(hot["expires_at"]), UTC),
        version=int(hot.get("version", 1)),
        memory_count=int(hot.get("memory_count", 0)),
        namespace=hot.get("namespace"),
        last_message_timestamp=_last_message_timestamp(hot),
    )


def list_item_from_item(hot: dict[str, Any]) -> SessionListItem:
    """Map a session's hot item (plain values) to a listing row."""
    return SessionListItem(
        session_id=hot["session_id"],
        user_id=hot["user_id"],
        title=hot.get("title", ""),
        status=SessionStatus(hot["status"]),
        is_active=hot["status"] == SessionStatus.ACTIVE,
        message_count=int(hot.get("message_count", 0)),
        total_tokens=int(hot.get("total_tokens", 0)),
        total_cost=Decimal(hot.get("total_cost", 0)),
        created_at=parse_iso(hot["created_at"]),
        updated_at=parse_iso(hot["updated_at"]),
        last_activity=parse_iso(hot["last_activity"]),
        expires_at=datetime.fromtimestamp(int(hot["expires_at"]), UTC),
        namespace=hot.get("namespace"),
        last_message_timestamp=_last_message_timestamp(hot),
    )


LAST_MESSAGE_TIMESTAMP = "last_message_timestamp"
"""The hot item's epoch seconds (a number, six decimals at most) of its latest appended message: that message's
client timestamp, else its creation time (:func:`last_message_time`); absent before the first append."""
SESSION_VERSION = "session_version"
"""A message item's session version after the conditional append (``If-Match``) that stored it: a repeat of that
append answers it as its ETag (a lost answer's retry resumes from its own write); absent on other messages."""


def _last_message_timestamp(hot: dict[str, Any]) -> float | None:
    value = hot.get(LAST_MESSAGE_TIMESTAMP)
    return None if value is None else float(value)


def message_timestamp(item: dict[str, Any]) -> int | None:
    """A message item's client timestamp in microseconds: its ``timestamp`` attribute (an agent's message), else
    what its ``LSI1SK`` names (:func:`~session_service.data.keys.timestamp_of`); ``None`` for a message without."""
    if item.get("timestamp") is not None:
        return int(item["timestamp"])
    return timestamp_of(str(item.get(f"{LSI_MESSAGE_ID}SK", "")))


def last_message_time(item: dict[str, Any]) -> Decimal:
    """The hot item's :data:`LAST_MESSAGE_TIMESTAMP` after appending the message ``item`` (its item as stored)."""
    micros = message_timestamp(item)
    return seconds_of_micros(micros if micros is not None else micros_of(parse_iso(str(item["created_at"]))))


def memory_count_attribute(memory_type: MemoryType | None) -> str:
    """The hot item's attribute counting its memory records of one type (or of all types)."""
    return f"memory_count_{memory_type.value}" if memory_type else "memory_count"


_DEFAULTS: dict[str, Any] = {
    "message_type": MessageType.CHAT.value,
    "metadata": "{}",
    "status": MessageStatus.COMPLETED.value,
    "chunks": 0,
}
"""A message's fields at these values are not stored (:func:`message_item`)."""


def message_item(
    session_id: str, caller: str, message_id: str, request: MessageCreate, created: datetime, request_hash: str | None
) -> dict[str, Any]:
    """A message's item as stored (plain values): what its keys and the session's hot item say is not stored
    again, nor a field at its default (:func:`message_values` reads them back).

    The sort key names the creation time and the id (``message_id``, ``session_id`` and ``created_at`` are read
    from the keys; ``created_at`` is stored too: every item of a session carries its incarnation), the owner is the
    session's (``caller``, not stored). ``request_hash`` (the body's hash, when the client chose the id and a
    ``MID#`` item reserves it) is what a repeated append is compared with; without one the server names the
    message: ``message_id`` is then the seed of its time-ordered id (:func:`~session_service.data.keys.
    time_ordered_id`), from which its sort key is derived, so no index entry is written to find it. ``version``
    counts the item's changes; a streamed reply (``in_progress``) also carries ``chunks``, its chunks so far, and
    ``content_bytes``, its content's UTF-8 size with its ``data``'s (the size limit counts both); ``data``, when
    given, is stored as its compact JSON text (exact, any JSON value). A client ``timestamp`` is kept in
    microseconds: in ``LSI1SK`` (:func:`~session_service.data.keys.timestamp_message_key`, which lists messages
    from a time), or, for an agent's message (its ``LSI1SK`` is its position), as the number ``timestamp``."""
    if request_hash is None:
        message_id = time_ordered_id(created, message_id)
    item: dict[str, Any] = {
        "PK": session_pk(session_id),
        "SK": message_sk(iso(created), message_id),
        ENTITY: MESSAGE_ENTITY,
        "role": request.role.value,
        "content": request.content,
        "tokens_used": request.tokens_used,
        "cost_usd": request.cost_usd,
        "created_at": iso(created),
        "version": 1,
    }
    optional = {
        "message_type": request.message_type.value,
        "metadata": dump_json(request.metadata),
        "status": request.status.value,
        "provider": request.provider,
        "model": request.model,
        "body_hash": request_hash,
        "data": None if request.data is None else dump_json(request.data),
    }
    item.update({name: value for name, value in optional.items() if value is not None and value != _DEFAULTS.get(name)})
    if request.timestamp is not None:  # found by it (LSI1) unless an agent's message, whose LSI1 key is its position
        micros = timestamp_micros(request.timestamp)
        if request.agent_id is None:
            item[f"{LSI_MESSAGE_ID}SK"] = timestamp_message_key(micros, iso(created))
        else:
            item["timestamp"] = micros
    if is_streaming(item):
        item.update(chunks=0, content_bytes=len(request.content.encode("utf-8")) + data_bytes(request.data))
    return item


def with_agent(item: dict[str, Any], agent_id: str, position: int) -> dict[str, Any]:
    """A message ``item`` of the agent ``agent_id`` at ``position`` in its conversation: ``agent_id`` and the LSI1
    sort key that finds it by position (:func:`~session_service.data.keys.agent_message_key`)."""
    return {**item, "agent_id": agent_id, f"{LSI_MESSAGE_ID}SK": agent_message_key(agent_id, position)}


def message_values(item: dict[str, Any]) -> dict[str, Any]:
    """A message item (plain values) with what it does not store filled in: ``message_id`` and ``session_id``
    from its keys, the fields at their defaults, and ``content_bytes``. An item stored before messages were
    trimmed (with ``LSI1SK``, ``message_id``, ``session_id``, ``user_id`` and every default) reads the same."""
    derived = {
        **_DEFAULTS,
        "message_id": message_id_of(str(item["SK"])),
        "session_id": session_id_of(str(item["PK"])),
        "content_bytes": len(str(item.get("content", "")).encode("utf-8"))
        + len(str(item.get("data", "")).encode("utf-8")),
    }
    return {**derived, **item}


def message_id_item(message: dict[str, Any]) -> dict[str, Any]:
    """The item reserving the client-chosen id of ``message`` (its item): it names the message's sort key."""
    return {
        "PK": message["PK"],
        "SK": f"{MESSAGE_ID_PREFIX}{message_id_of(str(message['SK']))}",
        ENTITY: MESSAGE_ID_ENTITY,
        "message_sk": message["SK"],
        "created_at": message["created_at"],
    }


def chunk_item(message: dict[str, Any], index: int, content: str) -> dict[str, Any]:
    """Chunk ``index`` of the streamed reply ``message`` (its item, plain values)."""
    if not 0 <= index <= MAX_CHUNK_INDEX:
        raise ValueError(f"chunk index out of range: {index}")
    return {
        "PK": message["PK"],
        "SK": chunk_sk(str(message["SK"]), index),
        ENTITY: CHUNK_ENTITY,
        "message_id": message["message_id"],
        "index": index,
        "content": content,
        "created_at": message["created_at"],
    }


def is_streaming(message: dict[str, Any]) -> bool:
    """True for a streamed reply that is still ``in_progress`` (its content so far includes its chunks)."""
    return message.get("status") == MessageStatus.IN_PROGRESS.value


def _record(item: dict[str, Any]) -> dict[str, Any]:
    """A message or memory item's values as its model reads them (``metadata`` is stored as JSON text)."""
    return {**item, "metadata": json.loads(item.get("metadata", "{}"))}


def message_from_item(item: dict[str, Any], owner: str) -> Message:
    """Map a message item (plain values, as stored or as :func:`message_values` gives it) of a session ``owner``
    owns to the :class:`Message` model (a message's ``user_id`` is its session's owner: new items do not store
    it; ``data`` is stored as JSON text)."""
    record = _record({"user_id": owner, **message_values(item)})
    if item.get("data") is not None:
        record["data"] = json.loads(item["data"])
    if item.get("agent_id") is not None:  # its position is its LSI1 sort key's
        record["position"] = position_of(str(item[f"{LSI_MESSAGE_ID}SK"]))
    micros = message_timestamp(item)
    record["timestamp"] = None if micros is None else float(seconds_of_micros(micros))
    return Message.model_validate(record)


def memory_item(session_id: str, caller: str, memory_id: str, request: MemoryCreate, now: datetime) -> dict[str, Any]:
    """A memory record's item (plain values); its sort key groups records by type."""
    return {
        "PK": session_pk(session_id),
        "SK": f"{memory_prefix(request.memory_type)}{iso(now)}#{memory_id}",
        ENTITY: MEMORY_ENTITY,
        "memory_id": memory_id,
        "session_id": session_id,
        "user_id": caller,
        "memory_type": request.memory_type.value,
        "content": request.content,
        "metadata": dump_json(request.metadata),
        "created_at": iso(now),
    }


def memory_from_item(item: dict[str, Any]) -> Memory:
    """Map a memory record item (plain values) to the :class:`Memory` model."""
    return Memory.model_validate(_record(item))


def is_live(item: dict[str, Any] | None, caller: str, epoch: int) -> bool:
    """True when ``item`` is a session hot item the caller owns that has not expired at ``epoch`` (seconds; TTL
    runs days late) nor been deleted (a tombstone expires at its delete's second; its status keeps a clock a
    second behind from seeing it)."""
    return (
        item is not None
        and item.get("user_id") == caller
        and int(item.get("expires_at", 0)) > epoch
        and not is_tombstone(item)
    )


def erasure_from_item(user_id: str, item: dict[str, Any]) -> Erasure:
    """Map an erasure's progress record (plain values) to :class:`Erasure`."""
    return Erasure(user_id=user_id, status=ErasureStatus(item["status"]), items_deleted=int(item["items_deleted"]))
