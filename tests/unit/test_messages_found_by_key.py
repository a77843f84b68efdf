"""A message is found by its key, not by an index: the server names a message with a time-ordered id
from which its sort key follows, a client-chosen id's ``MID#`` item names it, and a message item stores nothing its
keys or the session's hot item say, nor a field at its default. Messages stored before (with ``LSI1SK`` and every
attribute, found through LSI1) are found, read, changed and deleted the same."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from session_service.data import dynamo, keys
from session_service.errors import MessageConflict, MessageNotFound
from session_service.models import ChunkCreate, MessageCreate, MessageRole, MessageStatus, MessageUpdate, SessionCreate
from session_service.operations import appends
from session_service.repository import SessionRepository

TABLE = os.environ["TABLE_NAME"]
TRIMMED = {"LSI1SK", "message_id", "session_id", "user_id", "message_type", "metadata", "status", "chunks"}
"""Attributes a new message item at its defaults does not store."""


class Clock:
    """A clock that moves a millisecond each time it is read."""

    def __init__(self) -> None:
        self.now = datetime(2026, 12, 4, 9, 53, 9, 821305, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def calls(ddb: Any) -> Iterator[list[str]]:
    """The DynamoDB operations the repository's client sends, by name."""
    sent: list[str] = []

    def log(model: Any, **_: Any) -> None:
        sent.append(model.name)

    ddb.meta.events.register("before-call.dynamodb", log)
    yield sent
    ddb.meta.events.unregister("before-call.dynamodb", log)


def say(content: str = "hello", tokens: int = 3, **fields: Any) -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=content, tokens_used=tokens, cost_usd=Decimal("0.01"), **fields)


def stored(ddb: Any, sid: str, message_sort_key: str) -> dict[str, Any]:
    found = ddb.get_item(TableName=TABLE, Key=keys.key(keys.session_pk(sid), message_sort_key), ConsistentRead=True)
    return dynamo.deserialize(found["Item"])


def message_keys(ddb: Any, sid: str) -> list[str]:
    return [
        str(raw["SK"]["S"])
        for raw in dynamo.query_keys(ddb, TABLE, keys.session_pk(sid))
        if raw["SK"]["S"][:4] == "MSG#"
    ]


def legacy_message(
    ddb: Any,
    sid: str,
    user: str,
    created: datetime,
    *,
    message_id: str | None = None,
    body_hash: str | None = None,
    **fields: Any,
) -> str:
    """Store a message as the service stored one before its items were trimmed (LSI1SK, ids, owner, defaults; a
    client-chosen id's reservation when ``body_hash`` is given) and count it on the session; return its id."""
    message_id, at = message_id or str(uuid.uuid4()), keys.iso(created)
    item: dict[str, Any] = {
        "PK": keys.session_pk(sid),
        "SK": keys.message_sk(at, message_id),
        "LSI1SK": message_id,
        "entity": "message",
        "message_id": message_id,
        "session_id": sid,
        "user_id": user,
        "role": "assistant",
        "content": "from before",
        "message_type": "chat",
        "metadata": '{"a": 1}',
        "tokens_used": 5,
        "cost_usd": Decimal("0.02"),
        "created_at": at,
        "status": "completed",
        "version": 1,
        "chunks": 0,
        "content_bytes": 11,
        **fields,
    }
    writes = [{"Put": {"TableName": TABLE, "Item": dynamo.serialize(item)}}]
    if body_hash is not None:
        item["body_hash"] = body_hash
        writes[0]["Put"]["Item"] = dynamo.serialize(item)
        reservation = {"PK": item["PK"], "SK": f"MID#{message_id}", "entity": "message_id", "message_sk": item["SK"]}
        writes.append({"Put": {"TableName": TABLE, "Item": dynamo.serialize({**reservation, "created_at": at})}})
    counters = "ADD message_count :one, total_tokens :tokens, total_cost :cost"
    values = dynamo.serialize({":one": 1, ":tokens": 5, ":cost": Decimal("0.02")})
    update = {"TableName": TABLE, "Key": keys.session_key(sid), "UpdateExpression": counters}
    writes.append({"Update": {**update, "ExpressionAttributeValues": values}})
    ddb.transact_write_items(TransactItems=writes)
    return message_id


def new_session(store: SessionRepository, user: str) -> str:
    return store.create_session(user, SessionCreate(user_id=user))[0].session_id


def test_a_server_named_message_stores_no_index_key_nor_what_its_keys_say(store: Any, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    message = store.append_messages(sid, user, [say()])[0]
    sort_key = keys.message_sk_of_id(message.message_id)
    assert sort_key is not None and uuid.UUID(message.message_id).version == 7
    item = stored(ddb, sid, sort_key)
    assert set(item) == {"PK", "SK", "entity", "role", "content", "tokens_used", "cost_usd", "created_at", "version"}
    assert keys.parse_iso(str(item["created_at"])) == message.created_at
    assert store.get_message(sid, user, message.message_id) == message


def test_a_streamed_reply_stores_its_status_chunk_count_and_size(store: Any, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    started = MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)
    reply = store.append_messages(sid, user, [started])[0]
    item = stored(ddb, sid, str(keys.message_sk_of_id(reply.message_id)))
    assert (item["status"], item["chunks"], item["content_bytes"]) == ("in_progress", 0, 0)
    assert store.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="Hi")).content == "Hi"
    done = store.update_message(sid, user, reply.message_id, MessageUpdate(status=MessageStatus.COMPLETED))
    assert (done.content, done.status) == ("Hi", MessageStatus.COMPLETED)


def test_a_client_chosen_id_is_found_by_its_reservation_even_when_it_looks_time_ordered(store: Any, user: str) -> None:
    sid = new_session(store, user)
    mimic = keys.time_ordered_id(datetime(2026, 1, 1, tzinfo=UTC), str(uuid.uuid4()))  # names a key with no message
    for message_id in (str(uuid.uuid4()), mimic):
        message = store.append_messages(sid, user, [say(message_id=message_id)])[0]
        assert message.message_id == message_id
        assert store.get_message(sid, user, message_id) == message
        again = store.append_messages(sid, user, [say(message_id=message_id)])
        assert not again.created and again[0] == message
        with pytest.raises(MessageConflict):
            store.append_messages(sid, user, [say("another body", message_id=message_id)])


def test_a_client_cannot_choose_the_id_of_a_message_the_server_named(
    store: Any, ddb: Any, user: str, clock: Clock
) -> None:
    sid = new_session(store, user)
    named = store.append_messages(sid, user, [say()])[0].message_id
    before = legacy_message(ddb, sid, user, clock())
    for message_id in (named, before):
        with pytest.raises(MessageConflict):
            store.append_messages(sid, user, [say(message_id=message_id)])


def test_messages_stored_before_are_found_read_changed_and_deleted(
    store: Any, ddb: Any, user: str, clock: Clock
) -> None:
    sid = new_session(store, user)
    old = legacy_message(ddb, sid, user, clock())
    new = store.append_messages(sid, user, [say()])[0]

    message = store.get_message(sid, user, old)
    assert (message.content, message.metadata, message.tokens_used) == ("from before", {"a": 1}, 5)
    assert (message.user_id, message.session_id, message.message_id) == (user, sid, old)
    assert [m.message_id for m in store.list_messages(sid, user).messages] == [old, new.message_id]
    assert [m.message_id for m in store.get_context(sid, user, max_tokens=1000, max_messages=10).messages] == [
        old,
        new.message_id,
    ]

    changed = store.update_message(sid, user, old, MessageUpdate(tokens_used=7, metadata={"a": 1}))
    assert changed.tokens_used == 7 and store.get_session(sid, user).total_tokens == 7 + 3
    assert store.update_message(sid, user, old, MessageUpdate(metadata={"a": 1})) == changed  # writes nothing
    assert store.delete_message(sid, user, old) == 1
    with pytest.raises(MessageNotFound):
        store.get_message(sid, user, old)
    assert store.get_session(sid, user).message_count == 1


def test_a_client_chosen_id_stored_before_answers_a_repeated_append(
    store: Any, ddb: Any, user: str, clock: Clock
) -> None:
    sid = new_session(store, user)
    request = MessageCreate(role=MessageRole.USER, content="from before", tokens_used=5, message_id=str(uuid.uuid4()))
    at = clock()
    fields = {"role": "user", "metadata": "{}", "cost_usd": Decimal(0)}
    digest = appends._request_hash(request)
    legacy_message(ddb, sid, user, at, message_id=request.message_id, body_hash=digest, **fields)

    repeated = store.append_messages(sid, user, [request])
    assert not repeated.created and repeated[0].message_id == request.message_id
    assert repeated[0].created_at == at
    with pytest.raises(MessageConflict):
        store.append_messages(sid, user, [say("another body", message_id=request.message_id)])


def test_a_streamed_reply_stored_before_takes_chunks(store: Any, ddb: Any, user: str, clock: Clock) -> None:
    sid = new_session(store, user)
    at = clock()
    fields = {"status": "in_progress", "content": "", "content_bytes": 0, "tokens_used": 0, "cost_usd": Decimal(0)}
    reply = legacy_message(ddb, sid, user, at, **fields)
    assert store.add_chunk(sid, user, reply, ChunkCreate(index=0, content="Hi")).content == "Hi"
    assert store.get_message(sid, user, reply).content == "Hi"


def test_finding_a_message_by_id_costs(store: Any, ddb: Any, user: str, calls: list[str]) -> None:
    sid = new_session(store, user)
    named = store.append_messages(sid, user, [say()])[0].message_id
    chosen = store.append_messages(sid, user, [say(message_id=str(uuid.uuid4()))])[0].message_id
    calls.clear()
    store.get_message(sid, user, named)
    assert calls == ["BatchGetItem"]  # the hot item, the owner's counts, the message (and its would-be MID#)
    calls.clear()
    store.get_message(sid, user, chosen)
    # The hot item, the counts and the MID# item, with LSI1 (a message stored before) in the same time; then the
    # message the MID# item names.
    assert sorted(calls) == ["BatchGetItem", "BatchGetItem", "Query"]
    calls.clear()
    store.append_messages(sid, user, [say()])
    assert calls == ["TransactWriteItems"]
    assert len(message_keys(ddb, sid)) == 3


def test_a_time_ordered_id_names_its_time_to_the_microsecond_and_sorts_by_it() -> None:
    times = [datetime(2026, 12, 4, 21, 0, 0, micro, tzinfo=UTC) for micro in (0, 999, 1000, 999_999)]
    ids = [keys.time_ordered_id(moment, str(uuid.uuid4())) for moment in times]
    named = [keys.message_sk(keys.iso(moment), i) for moment, i in zip(times, ids, strict=True)]
    assert [keys.message_sk_of_id(i) for i in ids] == named
    assert sorted(ids) == ids and all(uuid.UUID(i).version == 7 for i in ids)
    seed = str(uuid.uuid4())
    assert keys.time_ordered_id(times[0], seed) != keys.time_ordered_id(times[1], seed)
    assert uuid.UUID(keys.time_ordered_id(times[0], seed)).int & (1 << 62) - 1 == uuid.UUID(seed).int & (1 << 62) - 1


@pytest.mark.parametrize(
    "message_id",
    [str(uuid.uuid4()), "not a uuid", "01a242eb-3109-7fff-966c-423b1cce92d2", "01a242eb-3109-70cb-066c-423b1cce92d2"],
)
def test_other_ids_name_no_key(message_id: str) -> None:
    # a random uuid, no uuid, a UUIDv7 whose sub-millisecond field is past 999, one of another variant
    assert keys.message_sk_of_id(message_id) is None
