"""The single table's items: every key format, attribute name and item <-> model mapping lives here.

Key design (one table, generic key names; every entity owns its key format):

=====================  ==============================  ======================================  ==================
entity                 PK                              SK                                      GSIs
=====================  ==============================  ======================================  ==================
session                ``SESSION#<session_id>``        ``SESSION``                             GSI1, GSI2 (sparse)
message                ``SESSION#<session_id>``        ``MSG#<created_at>#<message_id>``       -
memory record          ``SESSION#<session_id>``        ``MEM#<memory_type>#<created_at>#<id>``  -
per-user counts        ``USER#<user_id>``              ``COUNTS``                              -
service statistics     ``STATS``                       ``GLOBAL``                              -
stream applied mark    ``STREAM#SESSION#<id>``         ``APPLIED``                             -
idempotency record     ``IDEMPOTENCY#<user_id>``       ``<function>#<hash>`` (Powertools)      -
=====================  ==============================  ======================================  ==================

GSI1 (``GSI1PK = USER#<user_id>``, ``GSI1SK = last_activity``) lists a user's sessions by recent activity;
GSI2 has the same keys but only while the session is ``active`` (a sparse index), so ``active_only`` is a
Query, not a filter over everything.

Access patterns (requests made by :mod:`session_service.repository` and :mod:`session_service.stream`):

=====================================  ==============================================================
pattern                                request
=====================================  ==============================================================
create / ensure a session              PutItem, ``attribute_not_exists(PK)``, ALL_OLD on failure
get a session, its summary             GetItem (consistent)
update / end a session                 UpdateItem, condition owner + not expired + status (+ version)
list a user's sessions                 Query GSI1 (or GSI2 for active only) + GetItem of user counts
append messages                        TransactWriteItems: Put messages + Update session counters
list messages (oldest first)           GetItem session + Query ``SK begins_with MSG#``; next pages: Query
add / list memory records              TransactWriteItems / GetItem + Query ``begins_with MEM#[type#]``
statistics                             GetItem ``STATS``
stream: counts, marks                  BatchGetItem marks + TransactWriteItems (ADD STATS, COUNTS; SET marks)
stream: summary                        Query ``SK BETWEEN MSG# AND SESSION`` newest first + UpdateItem
stream: expired session's content      Query the partition (keys only) + BatchWriteItem deletes
=====================================  ==============================================================

Times are ISO 8601 UTC strings with microseconds and ``Z`` (so they sort as text); ``expires_at`` is epoch
seconds (the table's TTL attribute); money is a DynamoDB number (exact decimal). ``metadata`` and
``conversation_data`` are stored as JSON text, so any JSON value round-trips exactly.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from session_service.models import (
    Memory,
    MemoryCreate,
    MemoryType,
    Message,
    MessageCreate,
    Session,
    SessionCreate,
    SessionStatus,
    dump_json,
)

SESSION_SK = "SESSION"
MESSAGE_PREFIX = "MSG#"
MEMORY_PREFIX = "MEM#"
COUNTS_SK = "COUNTS"
STATS_KEY = {"PK": {"S": "STATS"}, "SK": {"S": "GLOBAL"}}
MARK_PREFIX = "STREAM#SESSION#"
MARK_SK = "APPLIED"
IDEMPOTENCY_PREFIX = "IDEMPOTENCY#"
GSI_ALL = "GSI1"
"""A user's sessions by recent activity."""
GSI_ACTIVE = "GSI2"
"""A user's active sessions by recent activity (sparse: keys present only while ``active``)."""
ENTITY = "entity"
"""Attribute naming an item's kind (the values below); the stream function reads it from images."""
SESSION_ENTITY = "session"
MESSAGE_ENTITY = "message"
MEMORY_ENTITY = "memory"
MARK_ENTITY = "stream_mark"


# -- times --------------------------------------------------------------------------------------------


def iso(moment: datetime) -> str:
    """``2025-10-03T09:53:09.821305Z``: fixed width, so ISO strings sort like the times they name."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_iso(text: str) -> datetime:
    """Inverse of :func:`iso`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


# -- keys ---------------------------------------------------------------------------------------------


def session_pk(session_id: str) -> str:
    """Partition key of a session and of everything it holds."""
    return f"SESSION#{session_id}"


def session_key(session_id: str) -> dict[str, Any]:
    """Primary key (DynamoDB JSON) of a session item."""
    return {"PK": {"S": session_pk(session_id)}, "SK": {"S": SESSION_SK}}


def user_pk(user_id: str) -> str:
    """Partition key of a user's counts and the GSI1/GSI2 partition of the user's sessions."""
    return f"USER#{user_id}"


def user_counts_key(user_id: str) -> dict[str, Any]:
    """Primary key of a user's counts item (``sessions``, ``active_sessions``)."""
    return {"PK": {"S": user_pk(user_id)}, "SK": {"S": COUNTS_SK}}


def mark_key(session_id: str) -> dict[str, Any]:
    """Primary key of a session's stream applied mark."""
    return {"PK": {"S": f"{MARK_PREFIX}{session_id}"}, "SK": {"S": MARK_SK}}


def idempotency_pk(caller: str) -> str:
    """Partition key of a caller's idempotency records (Powertools' ``static_pk_value``)."""
    return f"{IDEMPOTENCY_PREFIX}{caller}"


def memory_prefix(memory_type: MemoryType | None) -> str:
    """Sort-key prefix of a session's memory records, of one type or of all."""
    return f"{MEMORY_PREFIX}{memory_type.value}#" if memory_type else MEMORY_PREFIX


def created_at_of(sort_key: str) -> str | None:
    """``created_at`` of a message (``MSG#<t>#<id>``) or memory record (``MEM#<type>#<t>#<id>``) key;
    ``None`` for other items."""
    parts = sort_key.split("#")
    if sort_key.startswith(MESSAGE_PREFIX) and len(parts) >= 3:
        return parts[1]
    if sort_key.startswith(MEMORY_PREFIX) and len(parts) >= 4:
        return parts[2]
    return None


def is_message_key(sort_key: str) -> bool:
    """True for a message's sort key."""
    return sort_key.startswith(MESSAGE_PREFIX)


# -- items <-> models ---------------------------------------------------------------------------------


def new_session_item(session_id: str, caller: str, request: SessionCreate, now: datetime, ttl: int) -> dict[str, Any]:
    """A new session's item (plain values): ``active``, empty counters, ``expires_at = now + ttl`` (seconds)."""
    return {
        "PK": session_pk(session_id),
        "SK": SESSION_SK,
        ENTITY: SESSION_ENTITY,
        "session_id": session_id,
        "user_id": caller,
        "title": request.title,
        "status": SessionStatus.ACTIVE.value,
        "metadata": dump_json(request.metadata),
        "conversation_data": dump_json(request.conversation_data),
        "message_count": 0,
        "memory_count": 0,
        "total_tokens": 0,
        "total_cost": Decimal(0),
        "session_summary": "",
        "created_at": iso(now),
        "updated_at": iso(now),
        "last_activity": iso(now),
        "ttl_seconds": ttl,
        "expires_at": int(now.timestamp()) + ttl,
        "version": 1,
        f"{GSI_ALL}PK": user_pk(caller),
        f"{GSI_ALL}SK": iso(now),
        f"{GSI_ACTIVE}PK": user_pk(caller),
        f"{GSI_ACTIVE}SK": iso(now),
    }


def session_from_item(item: dict[str, Any]) -> Session:
    """Map a session item (plain values) to the :class:`Session` model."""
    return Session(
        session_id=item["session_id"],
        user_id=item["user_id"],
        title=item.get("title", ""),
        status=SessionStatus(item["status"]),
        conversation_data=json.loads(item.get("conversation_data", "{}")),
        metadata=json.loads(item.get("metadata", "{}")),
        is_active=item["status"] == SessionStatus.ACTIVE,
        message_count=int(item.get("message_count", 0)),
        total_tokens=int(item.get("total_tokens", 0)),
        total_cost=Decimal(item.get("total_cost", 0)),
        session_summary=item.get("session_summary", ""),
        created_at=parse_iso(item["created_at"]),
        updated_at=parse_iso(item["updated_at"]),
        last_activity=parse_iso(item["last_activity"]),
        expires_at=datetime.fromtimestamp(int(item["expires_at"]), UTC),
        version=int(item.get("version", 1)),
        memory_count=int(item.get("memory_count", 0)),
    )


def memory_count_attribute(memory_type: MemoryType | None) -> str:
    """The session attribute counting its memory records of one type (or of all types)."""
    return f"memory_count_{memory_type.value}" if memory_type else "memory_count"


def message_item(
    session_id: str, caller: str, message_id: str, request: MessageCreate, created: datetime
) -> dict[str, Any]:
    """A message's item (plain values)."""
    return {
        "PK": session_pk(session_id),
        "SK": f"{MESSAGE_PREFIX}{iso(created)}#{message_id}",
        ENTITY: MESSAGE_ENTITY,
        "message_id": message_id,
        "session_id": session_id,
        "user_id": caller,
        "role": request.role.value,
        "content": request.content,
        "message_type": request.message_type.value,
        "metadata": dump_json(request.metadata),
        "tokens_used": request.tokens_used,
        "cost_usd": request.cost_usd,
        "created_at": iso(created),
    }


def message_from_item(item: dict[str, Any]) -> Message:
    """Map a message item (plain values) to the :class:`Message` model."""
    return Message(
        message_id=item["message_id"],
        session_id=item["session_id"],
        user_id=item["user_id"],
        role=item["role"],
        content=item["content"],
        message_type=item["message_type"],
        metadata=json.loads(item.get("metadata", "{}")),
        tokens_used=int(item["tokens_used"]),
        cost_usd=Decimal(item["cost_usd"]),
        created_at=parse_iso(item["created_at"]),
    )


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
    return Memory(
        memory_id=item["memory_id"],
        session_id=item["session_id"],
        user_id=item["user_id"],
        memory_type=MemoryType(item["memory_type"]),
        content=item["content"],
        metadata=json.loads(item.get("metadata", "{}")),
        created_at=parse_iso(item["created_at"]),
    )
