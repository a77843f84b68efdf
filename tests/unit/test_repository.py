"""The single-table repository on moto: keys, conditional writes, typed errors, cursors, bulk operations."""

from __future__ import annotations

import os
import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.stub import Stubber

from session_service.cursor import CursorCodec
from session_service.data import dynamo
from session_service.data import keys as table_keys
from session_service.data.keys import iso, parse_iso
from session_service.errors import (
    InvalidCursor,
    InvalidStatusTransition,
    PreconditionFailed,
    ServiceUnavailable,
    SessionIdTaken,
    SessionNotActive,
    SessionNotFound,
    SessionReadOnly,
    StoreUnavailable,
)
from session_service.models import (
    MemoryCreate,
    MemoryType,
    MessageCreate,
    MessageRole,
    SessionCreate,
    SessionStatus,
    SessionTag,
    SessionUpdate,
)
from session_service.repository import SessionRepository
from session_service.stream import IndexMove, StreamProcessor
from session_service.summarizer import ExtractiveSummarizer

TABLE = os.environ["TABLE_NAME"]
USER = "test_user_123"
OTHER = "other_user_456"
T0 = datetime(2025, 10, 3, 9, 53, 9, 821305, tzinfo=UTC)


class Clock:
    """A settable clock for the repository."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> Clock:
    return Clock()


def create(store: SessionRepository, user: str = USER, **fields: Any) -> str:
    session, created = store.create_session(user, SessionCreate(user_id=user, **fields))
    assert created
    return session.session_id


def message(content: str = "hi", tokens: int = 1, cost: str = "0.000001") -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=content, tokens_used=tokens, cost_usd=Decimal(cost))


def raw_item(ddb: Any, pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = ddb.get_item(TableName=TABLE, Key={"PK": {"S": pk}, "SK": {"S": sk}}).get("Item")
    return item


def test_iso_times_sort_as_text_and_round_trip() -> None:
    early, late = T0, T0 + timedelta(microseconds=1)
    assert iso(early) < iso(late)
    assert iso(T0) == "2025-10-03T09:53:09.821305Z"
    assert parse_iso(iso(T0)) == T0
    assert len(iso(T0.replace(microsecond=0))) == len(iso(T0))


# -- keys and stored shape --------------------------------------------------------------------------------


def test_session_item_keys_and_indexes(store: SessionRepository, ddb: Any) -> None:
    sid = create(store, metadata={"a": [1, 2.5, None]})
    item = raw_item(ddb, f"SESSION#{sid}", "SESSION")
    assert item is not None
    assert item["GSI1PK"] == {"S": f"USER#{USER}"} and item["GSI2PK"] == {"S": f"USER#{USER}"}
    assert item["GSI1SK"] == {"S": iso(T0)} and item["GSI2SK"] == {"S": f"active#{iso(T0)}"}
    assert item["expires_at"] == {"N": str(int(T0.timestamp()) + 3600)}
    assert item["total_cost"] == {"N": "0"}
    assert store.get_session(sid, USER).metadata == {"a": [1, 2.5, None]}  # JSON round-trips exactly


def test_messages_and_memory_live_in_the_session_partition(store: SessionRepository, ddb: Any) -> None:
    sid = create(store)
    (stored,) = store.append_messages(sid, USER, [message()])
    memory = store.add_memory(sid, USER, MemoryCreate(memory_type=MemoryType.ENTITY, content="Ada"))
    keys = {(k["PK"]["S"], k["SK"]["S"]) for k in dynamo.query_keys(ddb, TABLE, f"SESSION#{sid}")}
    assert keys == {
        (f"SESSION#{sid}", "SESSION"),
        (f"SESSION#{sid}", "SESSION#DATA"),
        (f"SESSION#{sid}", f"MSG#{iso(T0)}#{stored.message_id}"),
        (f"SESSION#{sid}", f"MEM#entity#{iso(T0)}#{memory.memory_id}"),
    }


@pytest.mark.fresh_table  # lists the user's sessions
def test_ending_moves_the_session_to_the_ended_status_index(store: SessionRepository, ddb: Any) -> None:
    sid = create(store)
    store.end_session(sid, USER)
    item = raw_item(ddb, f"SESSION#{sid}", "SESSION")
    assert item is not None
    assert item["GSI2SK"]["S"].startswith("ended#") and item["GSI2PK"] == {"S": f"USER#{USER}"}
    assert item["GSI1PK"] == {"S": f"USER#{USER}"}
    assert [s.session_id for s in store.list_user_sessions(USER, status=SessionStatus.ENDED).sessions] == [sid]
    assert store.list_user_sessions(USER, status=SessionStatus.ACTIVE).sessions == []


# -- create ------------------------------------------------------------------------------------------


def test_create_with_a_taken_id(store: SessionRepository) -> None:
    sid = str(uuid.uuid4())
    create(store, session_id=sid, title="first")
    session, created = store.create_session(USER, SessionCreate(user_id=USER, session_id=sid, title="second"))
    assert (created, session.title) == (False, "first")
    with pytest.raises(SessionIdTaken):
        store.create_session(OTHER, SessionCreate(user_id=OTHER, session_id=sid))


def test_an_expired_id_that_ttl_removes_during_the_takeover_is_created_all_the_same(
    store: SessionRepository, ddb: Any, clock: Clock
) -> None:
    sid = create(store, session_id=str(uuid.uuid4()), ttl_seconds=60)
    clock.advance(61)
    other = boto3.client("dynamodb")  # the TTL service, deleting the expired item between the two attempts
    transactions: list[str] = []

    def ttl_strikes(**_: Any) -> None:
        transactions.append("TransactWriteItems")
        if len(transactions) == 2:  # the takeover
            other.delete_item(TableName=TABLE, Key={"PK": {"S": f"SESSION#{sid}"}, "SK": {"S": "SESSION"}})

    ddb.meta.events.register("before-call.dynamodb.TransactWriteItems", ttl_strikes)
    try:
        session, created = store.create_session(OTHER, SessionCreate(user_id=OTHER, session_id=sid, title="new"))
    finally:
        ddb.meta.events.unregister("before-call.dynamodb.TransactWriteItems", ttl_strikes)
    assert (created, session.user_id, session.title) == (True, OTHER, "new")
    assert len(transactions) == 3  # refused (expired item), takeover refused (gone), created
    assert store.get_session(sid, OTHER).message_count == 0


def test_create_uses_the_request_ttl(store: SessionRepository) -> None:
    sid = create(store, ttl_seconds=120)
    assert store.get_session(sid, USER).expires_at == T0.replace(microsecond=0) + timedelta(seconds=120)


# -- reads and expiry ----------------------------------------------------------------------------------


@pytest.mark.fresh_table  # lists the user's sessions
def test_reads_treat_expiry_as_gone_at_once(store: SessionRepository, clock: Clock) -> None:
    sid = create(store, ttl_seconds=60)
    clock.advance(59)
    assert store.get_session(sid, USER).session_id == sid
    clock.advance(1)
    with pytest.raises(SessionNotFound):
        store.get_session(sid, USER)
    with pytest.raises(SessionNotFound):
        store.append_messages(sid, USER, [message()])
    with pytest.raises(SessionNotFound):
        store.update_session(sid, USER, SessionUpdate(title="late"))
    assert store.list_user_sessions(USER).sessions == []


def test_activity_slides_the_expiry(store: SessionRepository, clock: Clock) -> None:
    sid = create(store, ttl_seconds=60)
    clock.advance(50)
    store.append_messages(sid, USER, [message()])
    clock.advance(50)  # 100 s after creation, 50 s after the last activity
    session = store.get_session(sid, USER)
    assert session.last_activity == T0 + timedelta(seconds=50)
    assert session.expires_at == (T0 + timedelta(seconds=50)).replace(microsecond=0) + timedelta(seconds=60)


def test_foreign_session_is_not_found(store: SessionRepository) -> None:
    sid = create(store)
    for call in (
        lambda: store.get_session(sid, OTHER),
        lambda: store.update_session(sid, OTHER, SessionUpdate(title="x")),
        lambda: store.end_session(sid, OTHER),
        lambda: store.append_messages(sid, OTHER, [message()]),
        lambda: store.add_memory(sid, OTHER, MemoryCreate(memory_type=MemoryType.CUSTOM, content="x")),
        lambda: store.list_messages(sid, OTHER),
        lambda: store.list_memories(sid, OTHER),
    ):
        with pytest.raises(SessionNotFound):
            call()


# -- updates -------------------------------------------------------------------------------------------


def test_transitions_and_their_errors(store: SessionRepository) -> None:
    sid = create(store)
    with pytest.raises(InvalidStatusTransition) as caught:
        store.update_session(sid, USER, SessionUpdate(status=SessionStatus.ARCHIVED))
    assert (caught.value.current, caught.value.requested) == ("active", "archived")
    assert store.update_session(sid, USER, SessionUpdate(status=SessionStatus.COMPLETED)).status == "completed"
    with pytest.raises(InvalidStatusTransition):
        store.end_session(sid, USER)
    assert store.update_session(sid, USER, SessionUpdate(status=SessionStatus.ARCHIVED)).status == "archived"


def test_ended_session_is_read_only_but_can_be_ended_again(store: SessionRepository) -> None:
    sid = create(store, title="kept")
    store.end_session(sid, USER)
    with pytest.raises(SessionReadOnly):
        store.update_session(sid, USER, SessionUpdate(title="changed"))
    store.end_session(sid, USER)  # a no-op
    with pytest.raises(SessionReadOnly):
        store.update_session(sid, USER, SessionUpdate(title="changed", status=SessionStatus.ENDED))
    ended = store.get_session(sid, USER)
    assert (ended.status, ended.title) == ("ended", "kept")


def test_if_match_guards_updates_with_the_version(store: SessionRepository) -> None:
    sid = create(store)
    read = store.get_session(sid, USER)
    tag = SessionTag(read.version, read.created_at)
    updated = store.update_session(sid, USER, SessionUpdate(title="a"), if_match=tag)
    assert updated.version > read.version
    with pytest.raises(PreconditionFailed):
        store.update_session(sid, USER, SessionUpdate(title="b"), if_match=tag)
    assert store.get_session(sid, USER).title == "a"


# -- messages ------------------------------------------------------------------------------------------


def test_append_counts_exactly(store: SessionRepository) -> None:
    sid = create(store)
    store.append_messages(sid, USER, [message(tokens=3, cost="0.1"), message(tokens=4, cost="0.2")])
    session = store.get_session(sid, USER)
    assert (session.message_count, session.total_tokens, session.total_cost) == (2, 7, Decimal("0.3"))


def test_append_to_non_active_sessions(store: SessionRepository) -> None:
    sid = create(store)
    store.update_session(sid, USER, SessionUpdate(status=SessionStatus.COMPLETED))
    with pytest.raises(SessionNotActive):
        store.append_messages(sid, USER, [message()])
    with pytest.raises(SessionNotActive):
        store.add_memory(sid, USER, MemoryCreate(memory_type=MemoryType.CUSTOM, content="x"))
    with pytest.raises(SessionNotFound):
        store.append_messages(str(uuid.uuid4()), USER, [message()])
    assert store.list_messages(sid, USER).messages == []


def test_message_cursor_does_not_outlive_the_session(store: SessionRepository, clock: Clock) -> None:
    sid = create(store, ttl_seconds=60)
    store.append_messages(sid, USER, [message(f"m{i}") for i in range(4)])
    first = store.list_messages(sid, USER, page_size=2)
    assert first.next_token and first.total == 4
    clock.advance(61)  # the cursor must not outlive the session
    with pytest.raises(SessionNotFound):
        store.list_messages(sid, USER, page_size=2, next_token=first.next_token)


def test_cursors_are_scoped(store: SessionRepository, ddb: Any) -> None:
    sid = create(store)
    store.append_messages(sid, USER, [message(f"m{i}") for i in range(3)])
    token = store.list_messages(sid, USER, page_size=1).next_token
    assert token
    with pytest.raises(InvalidCursor):
        store.list_messages(sid, USER, page_size=2, next_token=token)
    other_codec = SessionRepository(ddb, TABLE, ttl_seconds=3600, cursors=CursorCodec("z" * 32))
    with pytest.raises(InvalidCursor):
        other_codec.list_messages(sid, USER, page_size=1, next_token=token)  # signed with another secret


# -- listing and counts ------------------------------------------------------------------------------------


@pytest.mark.fresh_table  # reads and writes the user's COUNTS item
def test_listing_total_comes_from_the_counts_item_that_requests_move(store: SessionRepository, ddb: Any) -> None:
    ids = [create(store) for _ in range(3)]
    store.update_session(ids[0], USER, SessionUpdate(status=SessionStatus.COMPLETED))
    assert store.list_user_sessions(USER).total == 3  # exact at once: no stream involved
    assert store.list_user_sessions(USER, status=SessionStatus.ACTIVE).total == 2
    assert store.list_user_sessions(USER, status=SessionStatus.COMPLETED).total == 1
    ddb.put_item(
        TableName=TABLE,
        Item={"PK": {"S": f"USER#{USER}"}, "SK": {"S": "COUNTS"}, "sessions": {"N": "7"}, "status_active": {"N": "5"}},
    )
    assert store.list_user_sessions(USER).total == 7
    assert store.list_user_sessions(USER, status=SessionStatus.ACTIVE).total == 5


@pytest.mark.fresh_table  # lists the user's sessions
def test_listing_orders_by_the_activity_the_stream_moved_into_the_index(
    store: SessionRepository, ddb: Any, clock: Clock
) -> None:
    ids = []
    for _ in range(3):
        ids.append(create(store))
        clock.advance(1)
    store.append_messages(ids[0], USER, [message()])
    # A page orders its rows by their exact last_activity ...
    assert [s.session_id for s in store.list_user_sessions(USER).sessions] == [ids[0], ids[2], ids[1]]
    # ... while the index, which an append does not move, still orders by the activity its keys show.
    assert [s.session_id for s in store.list_user_sessions(USER, page_size=1).sessions] == [ids[2]]
    hot = dynamo.deserialize(raw_item(ddb, f"SESSION#{ids[0]}", "SESSION") or {})
    assert not table_keys.index_lags(hot)  # one second past: the stream function leaves it (a minute's grain)
    move = IndexMove(ids[0], hot["created_at"], hot["status"], hot["last_activity"], table_keys.index_keys(hot))
    processor = StreamProcessor(ddb, TABLE, ExtractiveSummarizer())
    assert processor.upkeep.move_index(move) is True
    assert processor.upkeep.move_index(move) is True  # idempotent
    assert [s.session_id for s in store.list_user_sessions(USER, page_size=1).sessions] == [ids[0]]
    clock.advance(table_keys.INDEX_GRAIN_SECONDS)
    store.append_messages(ids[1], USER, [message()])
    assert table_keys.index_lags(dynamo.deserialize(raw_item(ddb, f"SESSION#{ids[1]}", "SESSION") or {}))
    store.append_messages(ids[0], USER, [message()])
    assert processor.upkeep.move_index(move) is False  # stale: a newer record of that session moves it


def test_memory_type_filter_is_a_key_condition(store: SessionRepository) -> None:
    sid = create(store)
    for memory_type in (MemoryType.ENTITY, MemoryType.PREFERENCE, MemoryType.ENTITY):
        store.add_memory(sid, USER, MemoryCreate(memory_type=memory_type, content=memory_type.value))
    assert [m.memory_type for m in store.list_memories(sid, USER, memory_type=MemoryType.ENTITY).memories] == [
        "entity",
        "entity",
    ]
    everything = store.list_memories(sid, USER)
    assert everything.total == 3 and len(everything.memories) == 3
    assert store.get_session(sid, USER).summary().has_memory is True


# -- bulk removal --------------------------------------------------------------------------------------


def test_delete_keys_removes_every_item_of_a_partition_in_batches(store: SessionRepository, ddb: Any) -> None:
    sid = create(store)
    keep = create(store)
    store.append_messages(sid, USER, [message(f"m{i}") for i in range(60)])
    store.add_memory(sid, USER, MemoryCreate(memory_type=MemoryType.CUSTOM, content="x"))
    partition = f"SESSION#{sid}"
    assert dynamo.delete_keys(ddb, TABLE, dynamo.query_keys(ddb, TABLE, partition)) == 63  # with the data item
    assert list(dynamo.query_keys(ddb, TABLE, partition)) == []
    assert dynamo.delete_keys(ddb, TABLE, dynamo.query_keys(ddb, TABLE, partition)) == 0  # idempotent
    assert store.get_session(keep, USER).session_id == keep


# -- stats and health ----------------------------------------------------------------------------------


@pytest.mark.fresh_table  # reads and writes STATS
def test_stats_read_the_stats_item(store: SessionRepository, ddb: Any) -> None:
    assert store.get_stats().total_sessions == 0 and store.get_stats().average_messages_per_session == 0.0
    ddb.put_item(
        TableName=TABLE,
        Item={
            "PK": {"S": "STATS"},
            "SK": {"S": "GLOBAL"},
            "total_sessions": {"N": "4"},
            "active_sessions": {"N": "1"},
            "total_messages": {"N": "10"},
            "total_tokens": {"N": "99"},
            "total_cost": {"N": "0.3"},
        },
    )
    stats = store.get_stats()
    assert (stats.total_sessions, stats.active_sessions, stats.total_messages, stats.total_tokens) == (4, 1, 10, 99)
    assert stats.total_cost == Decimal("0.3") and stats.average_messages_per_session == 2.5


def test_ping_is_false_when_the_table_is_missing(ddb: Any) -> None:
    repo = SessionRepository(ddb, "no-such-table", ttl_seconds=60, cursors=CursorCodec("k" * 32))
    assert repo.ping() is False
    with pytest.raises(StoreUnavailable):
        repo.get_session(str(uuid.uuid4()), USER)


# -- faults moto cannot make (Stubber) ---------------------------------------------------------------------


def test_throttling_is_service_unavailable(store: SessionRepository, ddb: Any) -> None:
    with Stubber(ddb) as stub:  # the client the store was built with
        stub.add_client_error("batch_get_item", service_error_code="ProvisionedThroughputExceededException")
        with pytest.raises(ServiceUnavailable):
            store.get_session(str(uuid.uuid4()), USER)


def test_transaction_conflicts_are_retried(store: SessionRepository, monkeypatch: pytest.MonkeyPatch, ddb: Any) -> None:
    sid = create(store)
    monkeypatch.setattr("session_service.data.dynamo.time.sleep", lambda _: None)
    reasons = {"CancellationReasons": [{"Code": "None"}, {"Code": "TransactionConflict"}]}
    with Stubber(ddb) as stub:  # the client the store was built with
        stub.add_client_error(
            "transact_write_items", service_error_code="TransactionCanceledException", modeled_fields=reasons
        )
        stub.add_response("transact_write_items", {})
        store.append_messages(sid, USER, [message()])
        stub.assert_no_pending_responses()


def test_endless_conflicts_give_up_with_503(
    store: SessionRepository, monkeypatch: pytest.MonkeyPatch, ddb: Any
) -> None:
    sid = create(store)
    monkeypatch.setattr("session_service.data.dynamo.time.sleep", lambda _: None)
    with Stubber(ddb) as stub:  # the client the store was built with
        for _ in range(6):
            stub.add_client_error(
                "transact_write_items",
                service_error_code="TransactionCanceledException",
                modeled_fields={"CancellationReasons": [{"Code": "TransactionConflict"}]},
            )
        with pytest.raises(ServiceUnavailable):
            store.append_messages(sid, USER, [message()])
    assert store.get_session(sid, USER).message_count == 0
