"""Messages as records on moto (SPEC section 8): one message by id, edits and deletions that move the
session's counters exactly, truncation by a cut that the stream function clears, client-chosen ids,
streamed replies."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from session_service import rules
from session_service.data import dynamo, items, keys
from session_service.errors import MessageConflict, MessageNotFound, SessionNotActive, SessionNotFound
from session_service.models import (
    ChunkCreate,
    Message,
    MessageCreate,
    MessageRole,
    MessageStatus,
    MessageUpdate,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
)
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer

TABLE = os.environ["TABLE_NAME"]


class Clock:
    """A settable clock for the repository that moves a millisecond each time it is read."""

    def __init__(self) -> None:
        self.now = datetime(2025, 10, 3, 9, 53, 9, 821305, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


def new_session(store: SessionRepository, user: str) -> str:
    session, _ = store.create_session(user, SessionCreate(user_id=user))
    return session.session_id


def say(content: str, tokens: int = 1, cost: str = "0.000001", **fields: Any) -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=content, tokens_used=tokens, cost_usd=Decimal(cost), **fields)


def partition(ddb: Any, sid: str) -> list[dict[str, Any]]:
    """Every item of the session's partition (plain values)."""
    return [dynamo.deserialize(raw) for raw in dynamo.query_keys(ddb, TABLE, keys.session_pk(sid), "entity")]


def assert_counters_exact(store: SessionRepository, ddb: Any, sid: str, user: str) -> None:
    """The session's counters equal the sums over the messages a reader sees, and every stored message item
    outside the session's cuts is one a reader sees."""
    session = store.get_session(sid, user)
    listed = store.list_messages(sid, user, page_size=100).messages
    assert session.message_count == len(listed)
    assert session.total_tokens == sum(m.tokens_used for m in listed)
    assert session.total_cost == sum((m.cost_usd for m in listed), Decimal(0))
    hot = dynamo.deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])
    stored = [
        i for i in partition(ddb, sid) if i.get("entity") == items.MESSAGE_ENTITY and rules.visible(str(i["SK"]), hot)
    ]
    assert sorted(str(i["SK"]).rsplit("#", 1)[1] for i in stored) == sorted(m.message_id for m in listed)


def clear_cuts(ddb: Any, sid: str) -> int:
    """What the stream function does with the session's next record: delete its cuts' items."""
    hot = dynamo.deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])
    return StreamProcessor(ddb, TABLE, ExtractiveSummarizer()).cleanup.clear_cuts(sid, hot)


def delete_chunks(ddb: Any, sid: str, reply: Message) -> int:
    """What the stream function does with the record of a streamed reply finalized or deleted: delete its chunks."""
    message_sk = keys.message_sk(keys.iso(reply.created_at), reply.message_id)
    return StreamProcessor(ddb, TABLE, ExtractiveSummarizer()).cleanup.delete_chunks(sid, message_sk)


def test_a_message_is_read_by_its_id_in_any_form(store: SessionRepository, user: str, other_user: str) -> None:
    sid = new_session(store, user)
    stored = store.append_messages(sid, user, [say("one"), say("two", provider="openai", model="gpt-4o")])
    found = store.get_message(sid, user, stored[1].message_id)
    assert (found.content, found.provider, found.model, found.status) == ("two", "openai", "gpt-4o", "completed")
    assert store.get_message(sid, user, stored[1].message_id.upper().replace("-", "")) == found
    with pytest.raises(SessionNotFound):
        store.get_message(sid, other_user, stored[1].message_id)
    with pytest.raises(MessageNotFound):
        store.get_message(sid, user, str(uuid.uuid4()))


def test_edits_move_the_counters_by_the_difference(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    first, second = store.append_messages(sid, user, [say("one", 10, "0.1"), say("two", 5, "0.05")])
    edited = store.update_message(
        sid, user, first.message_id, MessageUpdate(content="uno", tokens_used=3, cost_usd=Decimal("0.000000000001"))
    )
    assert (edited.content, edited.tokens_used, edited.cost_usd) == ("uno", 3, Decimal("0.000000000001"))
    session = store.get_session(sid, user)
    assert (session.total_tokens, session.total_cost) == (8, Decimal("0.050000000001"))
    store.update_message(sid, user, second.message_id, MessageUpdate(metadata={"k": [1, 2]}, model="m"))
    assert store.get_message(sid, user, second.message_id).metadata == {"k": [1, 2]}
    assert_counters_exact(store, ddb, sid, user)


def test_a_change_that_changes_nothing_writes_nothing(store: SessionRepository, user: str) -> None:
    sid = new_session(store, user)
    (stored,) = store.append_messages(sid, user, [say("same", 2)])
    before = store.get_session(sid, user).version
    assert store.update_message(sid, user, stored.message_id, MessageUpdate(content="same", tokens_used=2)) == stored
    assert store.get_session(sid, user).version == before


def test_delete_one_message(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    kept, gone = store.append_messages(sid, user, [say("keep", 1), say("gone", 7, "0.7")])
    assert store.delete_message(sid, user, gone.message_id) == 1
    with pytest.raises(MessageNotFound):
        store.get_message(sid, user, gone.message_id)
    with pytest.raises(MessageNotFound):
        store.delete_message(sid, user, gone.message_id)
    assert [m.message_id for m in store.list_messages(sid, user).messages] == [kept.message_id]
    assert_counters_exact(store, ddb, sid, user)


def test_truncation_hides_at_once_and_the_stream_deletes(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    stored = store.append_messages(sid, user, [say(f"m{i}", i, f"0.{i}") for i in range(8)])
    assert store.truncate_after(sid, user, stored[2].message_id) == 5
    assert [m.content for m in store.list_messages(sid, user).messages] == ["m0", "m1", "m2"]
    assert [m.content for m in store.get_context(sid, user, max_tokens=1000, max_messages=50).messages] == [
        "m0",
        "m1",
        "m2",
    ]
    with pytest.raises(MessageNotFound):
        store.get_message(sid, user, stored[5].message_id)
    assert_counters_exact(store, ddb, sid, user)
    # Repeated while its cut is pending (a retry after a lost answer): the same count, nothing written
    assert store.truncate_after(sid, user, stored[2].message_id) == 5
    assert clear_cuts(ddb, sid) == 5
    assert store.truncate_after(sid, user, stored[2].message_id) == 0  # nothing after it any more
    assert {str(i["SK"]) for i in partition(ddb, sid) if str(i["SK"]).startswith("MSG#")} == {
        keys.message_sk(keys.iso(m.created_at), m.message_id) for m in stored[:3]
    }
    hot = dynamo.deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])
    assert hot["cuts"] == {}
    assert clear_cuts(ddb, sid) == 0  # a replayed record deletes nothing


def test_an_append_lands_above_a_cut_even_when_its_clock_is_behind(
    store: SessionRepository, ddb: Any, clock: Clock, user: str
) -> None:
    sid = new_session(store, user)
    stored = store.append_messages(sid, user, [say(f"m{i}") for i in range(3)])
    store.truncate_after(sid, user, stored[0].message_id)
    clock.now -= timedelta(seconds=5)  # another writer's clock, before the messages the cut removed
    (late,) = store.append_messages(sid, user, [say("late")])
    assert [m.content for m in store.list_messages(sid, user).messages] == ["m0", "late"]
    assert late.created_at > stored[2].created_at
    assert_counters_exact(store, ddb, sid, user)


def test_a_client_chosen_id_makes_the_append_idempotent(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    chosen = str(uuid.uuid4())
    (first,) = store.append_messages(sid, user, [say("hello", message_id=chosen)])
    assert first.message_id == chosen
    again = store.append_messages(sid, user, [say("hello", message_id=chosen.upper())])
    assert again.created is False and list(again) == [first]
    assert store.get_session(sid, user).message_count == 1
    with pytest.raises(MessageConflict):
        store.append_messages(sid, user, [say("another body", message_id=chosen)])
    # A batch naming an id stored with the same body skips that message and stores the rest
    both = store.append_messages(sid, user, [say("new"), say("hello", message_id=chosen)])
    assert both.created is True and both[1] == first
    assert store.get_session(sid, user).message_count == 2
    with pytest.raises(MessageConflict):  # a batch of which one id is taken by another body: nothing written
        store.append_messages(sid, user, [say("newer"), say("another body", message_id=chosen)])
    assert store.get_session(sid, user).message_count == 2
    store.delete_message(sid, user, chosen)  # the id is free again
    (reborn,) = store.append_messages(sid, user, [say("hello again", message_id=chosen)])
    assert reborn.content == "hello again"
    assert_counters_exact(store, ddb, sid, user)


def test_a_truncated_client_id_is_freed_by_the_stream(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    chosen = str(uuid.uuid4())
    head, _ = store.append_messages(sid, user, [say("head"), say("tail", message_id=chosen)])
    store.truncate_after(sid, user, head.message_id)
    with pytest.raises(MessageConflict):  # deleted, its reservation not yet
        store.append_messages(sid, user, [say("tail", message_id=chosen)])
    assert clear_cuts(ddb, sid) == 2  # the message and its reservation
    (again,) = store.append_messages(sid, user, [say("tail", message_id=chosen)])
    assert again.message_id == chosen
    assert_counters_exact(store, ddb, sid, user)


def test_a_streamed_reply(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    store.append_messages(sid, user, [say("question", 4, "0.004")])
    (reply,) = store.append_messages(
        sid,
        user,
        [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS, model="m1")],
    )
    assert reply.status == "in_progress" and store.get_session(sid, user).message_count == 2
    mid = reply.message_id
    assert store.add_chunk(sid, user, mid, ChunkCreate(index=0, content="Hel")).content == "Hel"
    assert store.add_chunk(sid, user, mid, ChunkCreate(index=1, content="lo")).content == "Hello"
    version = store.get_session(sid, user).version
    assert store.add_chunk(sid, user, mid, ChunkCreate(index=1, content="lo")).content == "Hello"  # a no-op
    assert store.get_session(sid, user).version == version
    for wrong in (ChunkCreate(index=1, content="LO"), ChunkCreate(index=3, content="gap")):
        with pytest.raises(MessageConflict):
            store.add_chunk(sid, user, mid, wrong)
    assert store.get_message(sid, user, mid).content == "Hello"
    assert store.get_context(sid, user, max_tokens=100, max_messages=10).messages[-1].content == "Hello"
    assert [m.content for m in store.list_messages(sid, user).messages] == ["question", "Hello"]
    with pytest.raises(MessageConflict):  # a reply in progress is finalized, not edited
        store.update_message(sid, user, mid, MessageUpdate(tokens_used=3))
    final = MessageUpdate(status=MessageStatus.COMPLETED, tokens_used=6, cost_usd=Decimal("0.006"))
    done = store.update_message(sid, user, mid, final)
    assert (done.content, done.status, done.tokens_used) == ("Hello", "completed", 6)
    again = store.update_message(sid, user, mid, final)
    assert again == done  # the same finalization: a no-op
    for other in (MessageUpdate(status=MessageStatus.INCOMPLETE), final.model_copy(update={"tokens_used": 7})):
        with pytest.raises(MessageConflict):
            store.update_message(sid, user, mid, other)
    with pytest.raises(MessageConflict):
        store.add_chunk(sid, user, mid, ChunkCreate(index=2, content="!"))
    session = store.get_session(sid, user)
    assert (session.message_count, session.total_tokens, session.total_cost) == (2, 10, Decimal("0.010"))
    assert clear_cuts(ddb, sid) == 0  # finalizing cuts nothing: the stream deletes the chunks on the reply's record
    assert delete_chunks(ddb, sid, done) == 2  # the chunks, now part of the message
    assert store.get_message(sid, user, mid).content == "Hello"
    assert_counters_exact(store, ddb, sid, user)


def test_deleting_a_reply_in_progress_takes_its_chunks(store: SessionRepository, ddb: Any, user: str) -> None:
    sid = new_session(store, user)
    (reply,) = store.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    for index in range(3):
        store.add_chunk(sid, user, reply.message_id, ChunkCreate(index=index, content=f"c{index}"))
    store.delete_message(sid, user, reply.message_id)
    assert clear_cuts(ddb, sid) == 0  # no cut: the stream deletes the chunks on the reply's record
    assert delete_chunks(ddb, sid, reply) == 3
    assert [i for i in partition(ddb, sid) if str(i["SK"]).startswith("MSG#")] == []
    assert_counters_exact(store, ddb, sid, user)


def test_only_an_active_sessions_messages_change(store: SessionRepository, user: str) -> None:
    sid = new_session(store, user)
    (stored,) = store.append_messages(sid, user, [say("x")])
    store.update_session(sid, user, SessionUpdate(status=SessionStatus.COMPLETED))
    for change in (
        lambda: store.update_message(sid, user, stored.message_id, MessageUpdate(content="y")),
        lambda: store.delete_message(sid, user, stored.message_id),
        lambda: store.truncate_after(sid, user, stored.message_id),
    ):
        with pytest.raises(SessionNotActive):
            change()
    assert store.get_message(sid, user, stored.message_id).content == "x"


def test_a_chunk_for_an_expired_session_answers_as_missing(store: SessionRepository, clock: Clock, user: str) -> None:
    sid = new_session(store, user)
    (reply,) = store.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    store.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="a"))
    store.update_message(sid, user, reply.message_id, MessageUpdate(status=MessageStatus.COMPLETED))
    clock.now += timedelta(hours=2)  # past the session's ttl_seconds (3600)
    for chunk in (ChunkCreate(index=0, content="a"), ChunkCreate(index=1, content="b")):
        with pytest.raises(SessionNotFound):
            store.add_chunk(sid, user, reply.message_id, chunk)


def test_a_batch_naming_one_id_twice_is_refused_before_any_write() -> None:
    from pydantic import ValidationError

    from session_service.models import MessageBatchCreate

    chosen = str(uuid.uuid4())
    with pytest.raises(ValidationError, match="same message_id"):
        MessageBatchCreate.model_validate(
            {
                "messages": [
                    {"role": "user", "content": "a", "message_id": chosen},
                    {"role": "user", "content": "b", "message_id": chosen.upper()},
                ]
            }
        )


def test_an_id_the_server_drew_cannot_be_chosen_again(store: SessionRepository, user: str) -> None:
    sid = new_session(store, user)
    (drawn,) = store.append_messages(sid, user, [say("first")])
    with pytest.raises(MessageConflict):
        store.append_messages(sid, user, [say("first", message_id=drawn.message_id)])
    assert [m.message_id for m in store.list_messages(sid, user).messages] == [drawn.message_id]


def test_a_streaming_reply_costs_readers_nothing_per_chunk(store: SessionRepository, ddb: Any, user: str) -> None:
    """Chunks live outside the messages' key range: a context read of the newest message reads one item."""
    sid = new_session(store, user)
    (reply,) = store.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    for index in range(30):
        store.add_chunk(sid, user, reply.message_id, ChunkCreate(index=index, content="x"))
    queries: list[dict[str, Any]] = []
    ddb.meta.events.register("provide-client-params.dynamodb.Query", lambda params, **_: queries.append(params))
    context = store.get_context(sid, user, max_tokens=100, max_messages=1)
    assert context.messages[0].content == "x" * 30
    assert len(queries) == 2  # the newest message, then its chunks (one Query each)


def test_a_cut_larger_than_a_pass_is_cleared_over_several_records(
    store: SessionRepository, ddb: Any, user: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each partial pass changes the hot item (its stream record brings the next pass), also when the limit
    is reached among a reply's chunks."""
    from session_service.stream import cleanup

    monkeypatch.setattr(cleanup, "MAX_CUT_ITEMS", 3)
    sid = new_session(store, user)
    head, *_ = store.append_messages(sid, user, [say(f"m{i}") for i in range(3)])
    (reply,) = store.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )
    for index in range(4):
        store.add_chunk(sid, user, reply.message_id, ChunkCreate(index=index, content=f"c{index}"))
    assert store.truncate_after(sid, user, head.message_id) == 3  # two messages, the reply and its 4 chunks

    def hot() -> dict[str, Any]:
        return dynamo.deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])

    passes = []
    while hot()["cuts"]:
        before = hot()
        passes.append(clear_cuts(ddb, sid))
        assert hot() != before  # a change of the hot item: the stream record of the next pass
        assert len(passes) < 10
    assert passes == [3, 3, 1]
    assert [m.message_id for m in store.list_messages(sid, user).messages] == [head.message_id]
    assert {str(i["SK"])[:4] for i in partition(ddb, sid)} == {"SESS", "MSG#"}
