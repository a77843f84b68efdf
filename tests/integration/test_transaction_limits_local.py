"""Every multi-item write at its worst case on DynamoDB Local: the most items and bytes its limits allow.

DynamoDB refuses a TransactWriteItems of more than 100 items or 4 MB with a ValidationException, which no code
translates (a 500); moto does not enforce either limit as DynamoDB does. Each test below builds the worst case
the route's limits allow (``session_service.models.types``) and writes it through the repository facade, so a
refusal fails the test with DynamoDB's own error. The table of these counts is in docs/api.md.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from session_service.data import dynamo, items
from session_service.data.guard import guard_for
from session_service.models import (
    MAX_BATCH_MESSAGES,
    MAX_BATCH_SESSIONS,
    MAX_JSON_OBJECT_BYTES,
    MAX_MEMORY_BYTES,
    MAX_MESSAGE_BYTES,
    MAX_MODEL_FIELD_CHARS,
    MAX_MODELS_PER_SESSION,
    MAX_TITLE_CHARS,
    ChunkCreate,
    MemoryCreate,
    MemoryType,
    MessageCreate,
    MessageStatus,
    SessionCreate,
)
from session_service.operations import appends
from session_service.rules import MAX_PENDING_CUTS

pytestmark = pytest.mark.dynamodb_local


def _user() -> str:
    return f"it_limits_{uuid.uuid4().hex[:8]}"


def _metadata(size: int = MAX_JSON_OBJECT_BYTES) -> dict[str, Any]:
    """A JSON object of ``size`` bytes as stored (compact JSON)."""
    return {"f": "m" * (size - len('{"f":""}'))}


def _full_message(content_bytes: int = MAX_MESSAGE_BYTES, **fields: Any) -> MessageCreate:
    """A message with every optional field at its largest."""
    values: dict[str, Any] = {
        "role": "assistant",
        "content": "c" * content_bytes,
        "message_id": str(uuid.uuid4()),
        "provider": "\U0001f600" * MAX_MODEL_FIELD_CHARS,
        "model": "\U0001f600" * MAX_MODEL_FIELD_CHARS,
        "metadata": _metadata(),
        "tokens_used": 10**9,
        "cost_usd": Decimal("999999.999999999999"),
    }
    return MessageCreate.model_validate({**values, **fields})


def _largest_session(repo: Any, user: str) -> str:
    """A session whose hot item is at its largest: the longest title, 16 provider/model pairs of 128 four-byte
    characters (models ``"000"`` to ``"015"`` then four-byte characters), each with its usage attributes, and
    20 pending cuts (the stream function is not run)."""
    session, _ = repo.create_session(user, SessionCreate(user_id=user, title="t" * MAX_TITLE_CHARS))
    sid = session.session_id
    pairs = [
        MessageCreate(
            role="user",
            content="x",
            provider="\U0001f600" * MAX_MODEL_FIELD_CHARS,
            model=f"{number:03d}".ljust(MAX_MODEL_FIELD_CHARS, "\U0001f600"),
        )
        for number in range(MAX_MODELS_PER_SESSION)
    ]
    repo.append_messages(sid, user, pairs)
    tail = repo.append_messages(sid, user, [MessageCreate(role="user", content="y")] * (MAX_PENDING_CUTS + 1))
    for message in reversed(tail[:MAX_PENDING_CUTS]):
        assert repo.truncate_after(sid, user, message.message_id) == 1
    return sid


def _hot_size(local_ddb: Any, table: str, sid: str) -> int:
    raw = local_ddb.get_item(TableName=table, Key={"PK": {"S": f"SESSION#{sid}"}, "SK": {"S": "SESSION"}})["Item"]
    return dynamo.item_size(dynamo.deserialize(raw))


def test_a_batch_at_the_4_mb_bound_into_the_largest_session_with_a_guard(
    local_repo: Any, local_ddb: Any, local_table: str
) -> None:
    # Given the largest hot item and 15 messages of 256 KiB whose metadata fills the batch to the 4 MB bound
    user = _user()
    sid = _largest_session(local_repo, user)
    assert _hot_size(local_ddb, local_table, sid) > 15_000
    named = {
        "provider": "\U0001f600" * MAX_MODEL_FIELD_CHARS,
        "model": "000".ljust(MAX_MODEL_FIELD_CHARS, "\U0001f600"),
    }
    count, base = 15, {"role": "user", "content": "c" * MAX_MESSAGE_BYTES, **named}  # a pair the session names

    def payload(metadata_bytes: int) -> int:
        batch = [MessageCreate(**base, message_id=str(uuid.uuid4()), metadata=_metadata(metadata_bytes))] * count
        ids = [str(message.message_id) for message in batch]
        planned = appends._message_items(sid, user, batch, ids, local_repo._store.clock(), ["h" * 64] * count)
        reserved = [items.message_id_item(item) for item in planned]
        return sum(dynamo.item_size(item) for item in [*planned, *reserved])

    bound = dynamo.MAX_TRANSACTION_BYTES - appends.SESSION_WRITE_BYTES
    fill = 100 + (bound - payload(100)) // count
    assert bound - count < payload(fill) <= bound
    batch = [MessageCreate(**base, message_id=str(uuid.uuid4()), metadata=_metadata(fill)) for _ in range(count)]
    guard = guard_for(user, "add_messages_batch", "key", {"n": count})

    # When it is appended, then it is stored whole
    appended = local_repo.append_messages(sid, user, batch, guard)
    assert appended.created and len(appended) == count


def test_the_largest_batch_written_in_two_transactions_with_a_guard(local_repo: Any) -> None:
    # 98 messages with every field: 2 transactions of 49 messages, 49 reservations, the session and the guard
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    batch = [_full_message(content_bytes=4_000) for _ in range(MAX_BATCH_MESSAGES)]
    guard = guard_for(user, "add_messages_batch", "key", {"n": MAX_BATCH_MESSAGES})
    assert len(local_repo.append_messages(session.session_id, user, batch, guard)) == MAX_BATCH_MESSAGES
    assert local_repo.get_session(session.session_id, user).message_count == MAX_BATCH_MESSAGES


def test_one_append_with_every_field_at_its_largest_and_a_guard(local_repo: Any) -> None:
    # The message, its reservation, the session's update and the guard: 4 items, about 300 KB
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    guard = guard_for(user, "add_message", "key", {"n": 1})
    assert local_repo.append_messages(session.session_id, user, [_full_message()], guard).created


def test_a_chunk_of_the_largest_reply(local_repo: Any) -> None:
    # The chunk, the reply's update and the session's: 3 items; the reply's content and chunks share 256 KiB
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    half = MAX_MESSAGE_BYTES // 2
    reply = _full_message(content_bytes=half, status=MessageStatus.IN_PROGRESS, tokens_used=0, cost_usd=0)
    stored = local_repo.append_messages(session.session_id, user, [reply])[0]
    chunk = ChunkCreate(index=0, content="k" * half)
    assert local_repo.add_chunk(session.session_id, user, stored.message_id, chunk).message_id == stored.message_id


def test_a_memory_record_at_its_largest_with_a_guard(local_repo: Any) -> None:
    # The record, the session's update and the guard: 3 items, about 100 KB
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    request = MemoryCreate(memory_type=MemoryType.PREFERENCE, content="f" * MAX_MEMORY_BYTES, metadata=_metadata())
    guard = guard_for(user, "add_memory", "key", {"n": 1})
    local_repo.add_memory(session.session_id, user, request, guard)


def test_a_batch_of_25_sessions_at_their_largest_with_a_guard_and_their_batch_delete(local_repo: Any) -> None:
    # 25 hot items, 25 data items of two 32 KiB objects, the counts and the guard: 52 items, about 1.7 MB
    user = _user()
    requests = [
        SessionCreate(
            user_id=user,
            session_id=f"s_{uuid.uuid4()}",
            title="t" * MAX_TITLE_CHARS,
            metadata=_metadata(),
            conversation_data=_metadata(),
        )
        for _ in range(MAX_BATCH_SESSIONS)
    ]
    guard = guard_for(user, "create_sessions_batch", "key", {"n": MAX_BATCH_SESSIONS})
    created = local_repo.create_sessions(user, requests, guard)
    assert len(created) == MAX_BATCH_SESSIONS
    # 25 tombstones and the counts: 26 items
    assert local_repo.delete_sessions(user, [s.session_id for s in created]) == MAX_BATCH_SESSIONS
