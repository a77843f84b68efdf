"""The stream functions on moto: exact statistics and user counts, exactly once, TTL clean-up, summaries.

Records come from two places: the moto table's own stream (read with the ``dynamodbstreams`` client, so
they have the shape DynamoDB gives them) and the sample events in ``events/stream_processor/``.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

from devserver.streams import StreamReader
from devserver.template import ROOT
from session_service.cursor import CursorCodec
from session_service.data.dynamo import deserialize
from session_service.data.keys import session_key, summary_key, user_counts_key
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, SessionCreate, SessionUpdate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.stream import records as stream_records
from session_service.stream.summaries import SummaryWriter
from session_service.summarizer import ExtractiveSummarizer, MessageLike
from tests.support import settle, stats_item

pytestmark = pytest.mark.fresh_table  # STATS, the user counts and the stream are table-wide

TABLE = os.environ["TABLE_NAME"]
EVENTS_DIR = ROOT / "events"
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
HANDLER_DIR = ROOT / "functions" / "stream_processor"


class CountingSummarizer:
    """The extractive summarizer, counting its calls per session."""

    def __init__(self) -> None:
        self.calls = 0
        self.inner = ExtractiveSummarizer()

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        self.calls += 1
        return self.inner.summarize(messages)


@pytest.fixture
def summarizer() -> CountingSummarizer:
    return CountingSummarizer()


@pytest.fixture
def processor(ddb: Any, summarizer: CountingSummarizer) -> StreamProcessor:
    return StreamProcessor(ddb, TABLE, summarizer, sleep=lambda _: None)


def event_records(name: str) -> list[dict[str, Any]]:
    return list(json.loads((EVENTS_DIR / "stream_processor" / f"{name}.json").read_text())["Records"])


def stats(ddb: Any) -> dict[str, Any]:
    values = stats_item(ddb, TABLE)  # the shards, summed
    names = ("total_sessions", "active_sessions", "total_messages", "total_tokens", "total_cost")
    return {k: values.get(k, 0) for k in names}


def counts(ddb: Any, user_id: str) -> tuple[int, int]:
    """A user's counts of sessions and of active sessions (requests move them; the stream, on TTL removal)."""
    item = ddb.get_item(TableName=TABLE, Key=user_counts_key(user_id), ConsistentRead=True).get("Item")
    values = deserialize(item) if item else {}
    return int(values.get("sessions", 0)), int(values.get("status_active", 0))


def truth(ddb: Any) -> dict[str, Any]:
    """The statistics computed from the sessions that exist (a test-only Scan)."""
    sessions = [
        deserialize(i)
        for page in ddb.get_paginator("scan").paginate(TableName=TABLE)
        for i in page["Items"]
        if i.get("entity", {}).get("S") == "session"
    ]
    return {
        "total_sessions": len(sessions),
        "active_sessions": sum(s["status"] == "active" for s in sessions),
        "total_messages": sum(int(s["message_count"]) for s in sessions),
        "total_tokens": sum(int(s["total_tokens"]) for s in sessions),
        "total_cost": sum((Decimal(s["total_cost"]) for s in sessions), Decimal(0)),
    }


def partition_count(ddb: Any, pk: dict[str, str]) -> int:
    return int(
        ddb.query(TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": pk})["Count"]
    )


def entity(record: dict[str, Any]) -> str | None:
    """The ``entity`` of the item a stream record shows (``None`` for items without one, like counts)."""
    image = record["dynamodb"].get("NewImage") or record["dynamodb"].get("OldImage") or {}
    value = image.get("entity", {}).get("S")
    return str(value) if value is not None else None


def same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return all(Decimal(a[k]) == Decimal(b[k]) for k in a)


def msg(content: str, tokens: int = 10, cost: str = "0.000123") -> MessageCreate:
    return MessageCreate(role="user", content=content, tokens_used=tokens, cost_usd=Decimal(cost))


def activity(repo: SessionRepository) -> None:
    """Sessions for three users, messages with exact costs, an ended and a completed session, memory."""
    ids = {}
    for user, n in (("alice", 3), ("bob", 2), ("carol", 1)):
        for i in range(n):
            session, _ = repo.create_session(user, SessionCreate(user_id=user, title=f"{user} {i}"))
            ids[(user, i)] = session.session_id
    for i in range(7):
        repo.append_messages(ids[("alice", 0)], "alice", [msg(f"Alice asks about Kyoto temples, day {i}.")])
    pair = [msg("Batch one.", 5, "0.000001"), msg("Batch two.", 6, "0.000002")]
    repo.append_messages(ids[("alice", 1)], "alice", pair)
    repo.append_messages(ids[("bob", 0)], "bob", [msg("Review my pull request please.", 1000, "0.1")])
    repo.add_memory(ids[("bob", 0)], "bob", MemoryCreate(memory_type="preference", content="Likes short answers"))
    repo.end_session(ids[("bob", 1)], "bob")
    repo.update_session(ids[("alice", 2)], "alice", SessionUpdate(status="completed"))


# -- statistics and user counts ------------------------------------------------------------------------


def test_stats_and_user_counts_are_exact(repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any) -> None:
    activity(repo)
    response = handler(reader.drain())
    assert response == {"batchItemFailures": []}
    assert stats(ddb) == {
        "total_sessions": 6,
        "active_sessions": 4,
        "total_messages": 10,
        "total_tokens": 7 * 10 + 5 + 6 + 1000,
        "total_cost": Decimal("7") * Decimal("0.000123") + Decimal("0.000003") + Decimal("0.1"),
    }
    assert same(stats(ddb), truth(ddb))
    assert counts(ddb, "alice") == (3, 2)
    assert counts(ddb, "bob") == (2, 1)
    assert counts(ddb, "carol") == (1, 1)
    served = repo.get_stats()
    assert served.total_messages == 10 and served.average_messages_per_session == round(10 / 6, 1)


def test_replaying_a_batch_changes_nothing(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    activity(repo)
    batch = reader.drain()
    handler(batch)
    first = stats(ddb)
    for _ in range(3):
        assert handler(batch) == {"batchItemFailures": []}
        assert stats(ddb) == first
    assert counts(ddb, "alice") == (3, 2)
    # A later batch, then the old one redelivered, then a batch that overlaps both.
    session = repo.list_user_sessions("carol").sessions[0]
    repo.append_messages(session.session_id, "carol", [msg("One more.", 3, "0.5")])
    later = reader.drain()
    handler(later)
    handler(batch)
    handler(batch[-5:] + later)
    assert same(stats(ddb), truth(ddb))
    assert stats(ddb)["total_cost"] == truth(ddb)["total_cost"]


def test_batch_failing_halfway_is_applied_once_after_the_retry(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    activity(repo)
    batch = reader.drain()
    modifies = [r for r in batch if r["eventName"] == "MODIFY" and entity(r) == "session"]
    middle = modifies[3]
    failing = middle["dynamodb"]["SequenceNumber"]
    real_parse = stream_records.parse_record
    attempts = {"n": 0}

    def flaky(record: Any, **kwargs: Any) -> Any:
        if record.dynamodb.sequence_number == failing and attempts["n"] == 0:
            attempts["n"] += 1
            raise RuntimeError("transient failure")
        return real_parse(record, **kwargs)

    monkeypatch.setattr(stream_records, "parse_record", flaky)
    assert handler(batch) == {"batchItemFailures": [{"itemIdentifier": failing}]}
    position = [r["dynamodb"]["SequenceNumber"] for r in batch].index(failing)
    partial = stats(ddb)
    assert partial != truth(ddb)  # only the records before the failure were applied

    # Lambda retries from the failed record; the records after it that parsed fine come again.
    assert handler(batch[position:]) == {"batchItemFailures": []}
    assert same(stats(ddb), truth(ddb))
    # And the whole batch again (a redelivery after a timeout) changes nothing.
    handler(batch)
    assert same(stats(ddb), truth(ddb))
    assert counts(ddb, "alice") == (3, 2) and counts(ddb, "bob") == (2, 1)


def test_poison_record_is_reported_and_the_prefix_applied(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    activity(repo)
    batch = reader.drain()
    index = next(i for i, r in enumerate(batch) if r["eventName"] == "MODIFY" and entity(r) == "session")
    poison = copy.deepcopy(batch[index])
    poison["dynamodb"]["NewImage"]["message_count"] = {"S": "not a number"}
    batch[index] = poison
    response = handler(batch)
    assert response == {"batchItemFailures": [{"itemIdentifier": poison["dynamodb"]["SequenceNumber"]}]}
    assert stats(ddb)["total_sessions"] == sum(
        1 for r in batch[:index] if r["eventName"] == "INSERT" and entity(r) == "session"
    )
    # After the retries Lambda sends the poison record to the on-failure queue and moves past it.
    handler(batch[index + 1 :])
    handler(batch[index + 1 :])
    applied = stats(ddb)
    assert applied["total_sessions"] == 6


def test_every_record_unreadable_fails_the_invocation(handler: Any) -> None:
    record = event_records("insert_batch")[0]
    record["dynamodb"]["NewImage"]["status"] = {"N": "1"}
    from aws_lambda_powertools.utilities.batch.exceptions import BatchProcessingError

    with pytest.raises(BatchProcessingError):
        handler([record])


def test_a_batch_touching_more_users_than_a_transaction_holds(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    for i in range(12):
        user = f"user{i}"
        session, _ = repo.create_session(user, SessionCreate(user_id=user))
        repo.append_messages(session.session_id, user, [msg("hi there", 2, "0.01")])
    batch = reader.drain()
    small = StreamProcessor(ddb, TABLE, ExtractiveSummarizer(), max_transact_items=7)
    small.handle({"Records": batch})
    assert stats(ddb) == {
        "total_sessions": 12,
        "active_sessions": 12,
        "total_messages": 12,
        "total_tokens": 24,
        "total_cost": Decimal("0.12"),
    }
    assert all(counts(ddb, f"user{i}") == (1, 1) for i in range(12))
    outcome = small.apply(
        stream_records.applicable_prefix([stream_records.parse_record(_record(r)) for r in batch], [])
    )
    assert outcome.applied == 0 and outcome.transactions == 0
    assert stats(ddb)["total_sessions"] == 12


class SizeRecorder:
    """A DynamoDB client that records the number of actions of each TransactWriteItems."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.sizes: list[int] = []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.sizes.append(len(kwargs["TransactItems"]))
        return self._client.transact_write_items(**kwargs)


def test_the_commit_writes_no_summary_the_summary_function_writes_them(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    for i in range(12):
        user = f"user{i}"
        session, _ = repo.create_session(user, SessionCreate(user_id=user))
        repo.append_messages(session.session_id, user, [msg(f"Topic {i}: kayaking in Norway.", 2, "0.01")])
    records = reader.drain()
    recorder = SizeRecorder(ddb)
    outcome = StreamProcessor(recorder, TABLE, max_transact_items=7).apply(
        stream_records.applicable_prefix([stream_records.parse_record(_record(r)) for r in records], [])
    )
    assert outcome.summaries == 0 and outcome.applied == 24
    assert recorder.sizes and max(recorder.sizes) <= 7 and outcome.transactions == len(recorder.sizes)
    # Four runs of three sessions (STATS, three users' USAGE and three marks each), and no summary.
    assert sum(recorder.sizes) == 4 * (1 + 3 + 3)
    assert stats(ddb)["total_sessions"] == 12 and same(stats(ddb), truth(ddb))
    ids = [repo.list_user_sessions(f"user{i}").sessions[0].session_id for i in range(12)]
    assert not any("Item" in ddb.get_item(TableName=TABLE, Key=summary_key(session_id)) for session_id in ids)
    made = SummaryWriter(ddb, TABLE, ExtractiveSummarizer()).apply(records)
    assert (made.due, made.written) == (12, 12)
    assert all("Norway" in _summary_item(ddb, session_id)["session_summary"] for session_id in ids)


def _record(raw: dict[str, Any]) -> Any:
    from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

    return DynamoDBRecord(raw)


class FlakyClient:
    """A DynamoDB client whose first TransactWriteItems runs ``before`` and/or is cancelled by a conflict."""

    def __init__(self, client: Any, *, conflicts: int = 0, before: Callable[[], None] | None = None) -> None:
        self._client = client
        self.conflicts = conflicts
        self.before = before
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        self.transactions += 1
        if self.before is not None:
            before, self.before = self.before, None
            before()
        if self.conflicts:
            self.conflicts -= 1
            raise ClientError(
                {
                    "Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                    "CancellationReasons": [{"Code": "TransactionConflict"}],
                },
                "TransactWriteItems",
            )
        return self._client.transact_write_items(**kwargs)


def test_transaction_conflicts_are_retried(repo: SessionRepository, ddb: Any, reader: StreamReader) -> None:
    activity(repo)
    flaky = FlakyClient(ddb, conflicts=2)
    StreamProcessor(flaky, TABLE, ExtractiveSummarizer(), sleep=lambda _: None).handle({"Records": reader.drain()})
    assert flaky.transactions == 3
    assert same(stats(ddb), truth(ddb))


def test_concurrent_duplicate_delivery_is_counted_once(repo: SessionRepository, ddb: Any, reader: StreamReader) -> None:
    activity(repo)
    batch = reader.drain()
    other = StreamProcessor(ddb, TABLE, ExtractiveSummarizer())
    # Between our read of the marks and our transaction, another invocation applies the same records.
    flaky = FlakyClient(ddb, before=lambda: other.handle({"Records": copy.deepcopy(batch)}))
    StreamProcessor(flaky, TABLE, ExtractiveSummarizer(), sleep=lambda _: None).handle({"Records": batch})
    assert same(stats(ddb), truth(ddb))
    assert counts(ddb, "alice") == (3, 2)


def test_own_writes_coming_back_through_the_stream_write_nothing(
    repo: SessionRepository, ddb: Any, reader: StreamReader, processor: StreamProcessor, summarizer: CountingSummarizer
) -> None:
    activity(repo)
    for raw in ddb.scan(TableName=TABLE)["Items"]:  # indexes a minute behind: the function moves them
        if raw["SK"]["S"] == "SESSION":
            ddb.update_item(
                TableName=TABLE,
                Key={"PK": raw["PK"], "SK": raw["SK"]},
                UpdateExpression="SET GSI1SK = :old, GSI2SK = :status_old",
                ExpressionAttributeValues={
                    ":old": {"S": "2000-01-01T00:00:00.000000Z"},
                    ":status_old": {"S": f"{raw['status']['S']}#2000-01-01T00:00:00.000000Z"},
                },
            )
    processor.handle({"Records": reader.drain()})
    calls, before = summarizer.calls, stats(ddb)
    echo = reader.drain()  # STATS, marks, summaries and the index moves' session MODIFYs
    assert echo and any(r["dynamodb"]["Keys"]["SK"]["S"] == "SESSION" for r in echo)
    records = [_record(copy.deepcopy(r)) for r in echo]
    outcome = processor.apply([stream_records.parse_record(r) for r in records])
    assert outcome.transactions == 0 and outcome.summaries == 0
    assert summarizer.calls == calls and stats(ddb) == before
    assert reader.drain() == []


# -- the sample events ---------------------------------------------------------------------------------


def _seed_items(ddb: Any, records: list[dict[str, Any]]) -> None:
    """Put the session, message and memory items the sample events describe, as they would be in the table (a
    record of a session the table holds no longer, and that left no mark, is one delivered again after its
    tombstone was cleaned up: the stream function skips it)."""
    for record in records:
        image = record["dynamodb"].get("NewImage")
        if image and image.get("entity", {}).get("S") in ("session", "message", "memory"):
            ddb.put_item(TableName=TABLE, Item=image)


def test_sample_events_insert_modify_and_ttl_remove(ddb: Any, handler: Any) -> None:
    inserts, end, ttl = event_records("insert_batch"), event_records("modify_end_session"), event_records("ttl_remove")
    _seed_items(ddb, inserts)
    # Another session's content, which the TTL removal must leave alone.
    other = copy.deepcopy(inserts[2]["dynamodb"]["NewImage"])
    other["PK"] = {"S": "SESSION#11111111-2222-4333-8444-555555555555"}
    ddb.put_item(TableName=TABLE, Item=other)

    # The create requests moved the owners' counts (the stream leaves INSERT and MODIFY to them).
    for user in ("alice", "bob"):
        ddb.put_item(
            TableName=TABLE,
            Item={**user_counts_key(user), "sessions": {"N": "1"}, "status_active": {"N": "1"}},
        )
    assert handler(inserts) == {"batchItemFailures": []}
    assert stats(ddb) == {
        "total_sessions": 2,
        "active_sessions": 2,
        "total_messages": 2,
        "total_tokens": 150,
        "total_cost": Decimal("0.003"),
    }
    assert counts(ddb, "alice") == (1, 1) and counts(ddb, "bob") == (1, 1)

    ddb.update_item(  # what the end request did to bob's counts
        TableName=TABLE,
        Key=user_counts_key("bob"),
        UpdateExpression="ADD status_active :minus, status_ended :one",
        ExpressionAttributeValues={":minus": {"N": "-1"}, ":one": {"N": "1"}},
    )
    handler(end)
    assert stats(ddb)["active_sessions"] == 1 and counts(ddb, "bob") == (1, 0)

    session_a = ttl[0]["dynamodb"]["Keys"]["PK"]
    assert ttl[0]["userIdentity"] == TTL_IDENTITY
    ddb.delete_item(TableName=TABLE, Key=ttl[0]["dynamodb"]["Keys"])  # what TTL did
    assert partition_count(ddb, session_a) == 4  # its message, memory record and the summary the stream wrote
    handler(ttl)
    assert partition_count(ddb, session_a) == 0
    assert "Item" in ddb.get_item(TableName=TABLE, Key={"PK": other["PK"], "SK": other["SK"]})
    expected = {"total_sessions": 1, "active_sessions": 0, "total_messages": 0, "total_tokens": 0, "total_cost": 0}
    assert same(stats(ddb), expected)
    assert counts(ddb, "alice") == (0, 0) and counts(ddb, "bob") == (1, 0)

    for _ in range(3):  # replays of every sample, in any order
        for records in (ttl, inserts, end):
            assert handler(records) == {"batchItemFailures": []}
    assert same(stats(ddb), expected)
    assert counts(ddb, "alice") == (0, 0) and counts(ddb, "bob") == (1, 0)


def test_ttl_removal_keeps_a_new_session_that_reuses_the_id(ddb: Any, reader: StreamReader, handler: Any) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    cursors = CursorCodec("x" * 32)
    old_repo = SessionRepository(ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=cursors, clock=lambda: past)
    new_repo = SessionRepository(ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=cursors)
    session_id = "3b0f7d2e-8c41-4d7a-9e55-0a6c2b1f9d10"
    old_repo.create_session("dave", SessionCreate(user_id="dave", session_id=session_id))
    old_repo.append_messages(session_id, "dave", [msg("old message", 4, "0.4")])
    old_repo.add_memory(session_id, "dave", MemoryCreate(memory_type="entity", content="old memory"))
    handler(reader.drain())
    # TTL deletes the expired session; the id is created again before the stream catches up.
    ddb.delete_item(TableName=TABLE, Key=session_key(session_id))
    new_repo.create_session("dave", SessionCreate(user_id="dave", session_id=session_id))
    new_repo.append_messages(session_id, "dave", [msg("new message", 1, "0.1")])
    batch = reader.drain()
    for record in batch:
        if record["eventName"] == "REMOVE":
            record["userIdentity"] = TTL_IDENTITY
    handler(batch)
    pk = {"S": f"SESSION#{session_id}"}
    left = ddb.query(TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": pk})["Items"]
    # The new session's hot, data and summary items and its message; nothing of the old one.
    assert sorted(i["SK"]["S"].split("#")[0] for i in left) == ["MSG", "SESSION", "SESSION", "SESSION"]
    assert {i["created_at"]["S"] for i in left} == {_session_item(ddb, session_id)["created_at"]} | {
        i["created_at"]["S"] for i in left if i["SK"]["S"].startswith("MSG#")
    }
    assert "new message" in _summary_item(ddb, session_id)["session_summary"]
    assert [i["content"]["S"] for i in left if i["SK"]["S"].startswith("MSG#")] == ["new message"]
    assert same(stats(ddb), truth(ddb))
    assert counts(ddb, "dave") == (1, 1)


def test_a_remove_by_a_user_leaves_the_contents(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("erin", SessionCreate(user_id="erin"))
    repo.append_messages(session.session_id, "erin", [msg("keep me")])
    ddb.delete_item(TableName=TABLE, Key=session_key(session.session_id))
    handler(reader.drain())
    assert same(stats(ddb), truth(ddb)) and stats(ddb)["total_sessions"] == 0
    pk = {"S": f"SESSION#{session.session_id}"}
    # The message and the data item: no summary is kept of a session gone before its summary was written.
    assert partition_count(ddb, pk) == 2


# -- summaries -------------------------------------------------------------------------------------------


def _session_item(ddb: Any, session_id: str) -> dict[str, Any]:
    return deserialize(ddb.get_item(TableName=TABLE, Key=session_key(session_id), ConsistentRead=True)["Item"])


def _summary_item(ddb: Any, session_id: str) -> dict[str, Any]:
    return deserialize(ddb.get_item(TableName=TABLE, Key=summary_key(session_id), ConsistentRead=True)["Item"])


def test_summary_regenerated_once_per_session_per_batch(
    repo: SessionRepository, ddb: Any, reader: StreamReader, processor: StreamProcessor, summarizer: CountingSummarizer
) -> None:
    a, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    b, _ = repo.create_session("bob", SessionCreate(user_id="bob"))
    for i in range(5):
        repo.append_messages(a.session_id, "alice", [msg(f"Kyoto temples in April, question {i}.")])
    repo.append_messages(b.session_id, "bob", [msg("Please review the parser change."), msg("It handles unicode now.")])
    processor.handle({"Records": reader.drain()})
    assert summarizer.calls == 2
    item = _summary_item(ddb, a.session_id)
    assert "Kyoto" in item["session_summary"] and item["summary_through"].startswith("MSG#")
    assert int(_session_item(ddb, a.session_id)["version"]) == 6  # the summary write does not touch the session
    assert repo.get_session(a.session_id, "alice").session_summary == item["session_summary"]
    assert "parser" in _summary_item(ddb, b.session_id)["session_summary"]


def test_an_older_summary_never_overwrites_a_newer_one(
    repo: SessionRepository, ddb: Any, reader: StreamReader, processor: StreamProcessor, summarizer: CountingSummarizer
) -> None:
    session, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    repo.append_messages(session.session_id, "alice", [msg("First topic: sourdough bread.")])
    first = reader.drain()
    repo.append_messages(session.session_id, "alice", [msg("Second topic: cycling routes in Provence.")])
    second = reader.drain()
    processor.handle({"Records": second})
    newest = _summary_item(ddb, session.session_id)
    assert "Provence" in newest["session_summary"]
    calls = summarizer.calls
    processor.handle({"Records": first})  # the older batch, delivered late or replayed
    assert _summary_item(ddb, session.session_id)["session_summary"] == newest["session_summary"]
    assert summarizer.calls == calls  # it did not even ask for a summary
    # A concurrent writer with a newer summary wins the conditional write.
    ddb.update_item(
        TableName=TABLE,
        Key=summary_key(session.session_id),
        UpdateExpression="SET summary_through = :t, session_summary = :s",
        ExpressionAttributeValues={":t": {"S": "MSG#9999"}, ":s": {"S": "newer"}},
    )
    repo.append_messages(session.session_id, "alice", [msg("Third topic.")])
    processor.handle({"Records": reader.drain()})
    assert _summary_item(ddb, session.session_id)["session_summary"] == "newer"


def test_a_summary_that_failed_after_the_commit_is_written_by_the_retry(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    class FailsOnce(CountingSummarizer):
        def summarize(self, messages: Sequence[MessageLike]) -> str:
            self.calls += 1
            if self.calls == 1:
                raise RuntimeError("the model is down")
            return self.inner.summarize(messages)

    summarizer = FailsOnce()
    processor = StreamProcessor(ddb, TABLE, summarizer, sleep=lambda _: None)
    session, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    repo.append_messages(session.session_id, "alice", [msg("Retried batches still owe their summary.")])
    batch = reader.drain()
    with pytest.raises(RuntimeError):
        processor.handle({"Records": batch})  # the statistics were committed, then the summary failed
    before = stats(ddb)
    processor.handle({"Records": batch})  # Lambda retries the batch
    assert stats(ddb) == before  # counted once
    assert "Retried batches" in _summary_item(ddb, session.session_id)["session_summary"]
    calls = summarizer.calls
    processor.handle({"Records": batch})  # covered now: not summarized again
    assert summarizer.calls == calls


def test_handler_uses_the_extractive_summarizer_without_a_model(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    repo.append_messages(session.session_id, "alice", [msg("Deterministic summaries need no network.")])
    handler(reader.drain())
    assert _summary_item(ddb, session.session_id)["session_summary"] == "user: Deterministic summaries need no network."


# -- permanent delete ------------------------------------------------------------------------------------


def _rich_session(repo: SessionRepository, user: str) -> str:
    """A session of ``user`` with messages (one of them with a client-chosen id), a streamed reply's chunk, a
    cut (a deleted message) and memory: every kind of item a partition holds."""
    session, _ = repo.create_session(user, SessionCreate(user_id=user, title="to forget"))
    sid = session.session_id
    chosen = MessageCreate(role="user", content="mine", message_id="0b5e7c4e-3f7a-4f0e-9a53-2d7a7d2b6a10")
    repo.append_messages(sid, user, [chosen, msg("Tell me about Kyoto.", 7, "0.07"), msg("And Nara.", 3, "0.03")])
    reply = repo.append_messages(sid, user, [MessageCreate(role="assistant", content="", status="in_progress")])
    repo.add_chunk(sid, user, reply[0].message_id, ChunkCreate(index=0, content="Kyoto has"))
    repo.add_memory(sid, user, MemoryCreate(memory_type="preference", content="likes temples"))
    repo.delete_message(sid, user, repo.list_messages(sid, user).messages[1].message_id)
    return sid


def test_a_permanent_delete_leaves_nothing_and_drops_the_stats_by_exactly_the_session(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    # Given other users' activity and a rich session of frank's, all applied
    activity(repo)
    sid = _rich_session(repo, "frank")
    kept, _ = repo.create_session("frank", SessionCreate(user_id="frank"))
    settle(reader, handler)
    before, session = stats(ddb), _session_item(ddb, sid)
    assert partition_count(ddb, {"S": f"SESSION#{sid}"}) > 5
    # When frank deletes it for good and the stream runs
    repo.delete_session(sid, "frank")
    assert counts(ddb, "frank") == (1, 1)  # the request moved them
    batch = reader.drain()
    assert handler(batch) == {"batchItemFailures": []}
    settle(reader, handler)  # the tombstone's removal comes back: it changes nothing
    # Then nothing of it is left, and the statistics lost exactly its share
    assert partition_count(ddb, {"S": f"SESSION#{sid}"}) == 0
    assert stats(ddb) == {
        "total_sessions": before["total_sessions"] - 1,
        "active_sessions": before["active_sessions"] - 1,
        "total_messages": before["total_messages"] - session["message_count"],
        "total_tokens": before["total_tokens"] - session["total_tokens"],
        "total_cost": before["total_cost"] - session["total_cost"],
    }
    assert same(stats(ddb), truth(ddb))
    assert counts(ddb, "frank") == (1, 1)
    assert repo.get_session(kept.session_id, "frank").status == "active"
    # And a replayed batch changes nothing
    after = stats(ddb)
    assert handler(batch) == {"batchItemFailures": []}
    assert stats(ddb) == after and counts(ddb, "frank") == (1, 1)
    assert partition_count(ddb, {"S": f"SESSION#{sid}"}) == 0


def test_a_new_session_taking_over_a_deleted_id_keeps_its_own_items(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    sid = _rich_session(repo, "gina")
    settle(reader, handler)
    repo.delete_session(sid, "gina")
    # The id is created again (by another user) before the stream catches up.
    repo.create_session("hank", SessionCreate(user_id="hank", session_id=sid))
    repo.append_messages(sid, "hank", [msg("new owner", 2, "0.2")])
    # The create's first attempt was cancelled, and moto then restores a copy of the table whose stream the
    # old iterators no longer follow: a new reader delivers the whole stream again (a replay, applied once).
    settle(StreamReader(ddb, boto3.client("dynamodbstreams"), TABLE), handler)
    left = ddb.query(
        TableName=TABLE, KeyConditionExpression="PK = :pk", ExpressionAttributeValues={":pk": {"S": f"SESSION#{sid}"}}
    )["Items"]
    assert {i["created_at"]["S"] for i in left} == {_session_item(ddb, sid)["created_at"]} | {
        i["created_at"]["S"] for i in left if i["SK"]["S"].startswith("MSG#")
    }
    assert [i["content"]["S"] for i in left if i["SK"]["S"].startswith("MSG#")] == ["new owner"]
    assert same(stats(ddb), truth(ddb)) and stats(ddb)["total_sessions"] == 1
    assert counts(ddb, "gina") == (0, 0) and counts(ddb, "hank") == (1, 1)


def test_ttl_removing_a_tombstone_first_moves_no_counts(
    ddb: Any, repo: SessionRepository, reader: StreamReader, handler: Any
) -> None:
    sid = _rich_session(repo, "ivan")
    repo.create_session("ivan", SessionCreate(user_id="ivan"))
    settle(reader, handler)
    repo.delete_session(sid, "ivan")
    # TTL (expires_at is the delete's second) removes the tombstone before the stream function sees it.
    ddb.delete_item(TableName=TABLE, Key=session_key(sid))
    batch = reader.drain()
    for record in batch:
        if record["eventName"] == "REMOVE":
            record["userIdentity"] = TTL_IDENTITY
    assert handler(batch) == {"batchItemFailures": []}
    assert partition_count(ddb, {"S": f"SESSION#{sid}"}) == 0
    assert same(stats(ddb), truth(ddb)) and stats(ddb)["total_sessions"] == 1
    assert counts(ddb, "ivan") == (1, 1)


def test_a_summary_due_in_the_batch_of_the_delete_is_not_left_behind(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("judy", SessionCreate(user_id="judy"))
    repo.append_messages(session.session_id, "judy", [msg("A summary point: the first message.")])
    repo.delete_session(session.session_id, "judy")
    settle(reader, handler)  # the append's summary and the delete arrive in one batch
    assert partition_count(ddb, {"S": f"SESSION#{session.session_id}"}) == 0
    assert same(stats(ddb), truth(ddb)) and stats(ddb)["total_sessions"] == 0


# -- erasure of a user (SPEC section 9) --------------------------------------------------------------------


def _mentions(ddb: Any, *needles: str) -> list[dict[str, Any]]:
    """Every item of the table whose keys or values mention one of ``needles`` (a test-only Scan)."""
    found = []
    for page in ddb.get_paginator("scan").paginate(TableName=TABLE):
        found += [item for item in page["Items"] if any(needle in json.dumps(item) for needle in needles)]
    return found


def _owned_sessions(ddb: Any, user: str) -> list[dict[str, Any]]:
    return [
        deserialize(i)
        for page in ddb.get_paginator("scan").paginate(TableName=TABLE)
        for i in page["Items"]
        if i.get("entity", {}).get("S") == "session" and i["user_id"]["S"] == user
    ]


def test_an_erasure_leaves_nothing_of_the_user_and_drops_the_stats_by_exactly_what_was_erased(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from session_service.data.guard import WriteGuard
    from session_service.errors import SessionNotFound
    from session_service.stream import erasure

    monkeypatch.setattr(erasure, "SESSIONS_PER_PASS", 2)  # several passes
    # Given other users' activity and erin's sessions of every kind, with an idempotent create, all applied
    activity(repo)
    ids = [_rich_session(repo, "erin") for _ in range(2)]
    ended, _ = repo.create_session("erin", SessionCreate(user_id="erin", title="ended"))
    repo.append_messages(ended.session_id, "erin", [msg("bye", 5, "0.5")])
    repo.update_session(ended.session_id, "erin", SessionUpdate(status="ended"))
    keyed, _ = repo.create_session("erin", SessionCreate(user_id="erin"), WriteGuard("erin", "token-1", "{}"))
    ids += [ended.session_id, keyed.session_id]
    settle(reader, handler)
    others = {user: counts(ddb, user) for user in ("alice", "bob", "carol")}
    before, erins = stats(ddb), _owned_sessions(ddb, "erin")
    assert len(erins) == 4 and _mentions(ddb, "erin")
    # When erin's data is erased
    repo.erase_user("erin")
    # Then it is gone for every reader at once (a refused create and a repeated erasure: tests/handlers; a
    # cancelled transaction gives moto's stream a new shard)
    assert repo.erasure("erin").status == "erasing"
    for sid in ids:
        with pytest.raises(SessionNotFound):
            repo.get_session(sid, "erin")
        with pytest.raises(SessionNotFound):
            repo.list_messages(sid, "erin")
    assert repo.list_user_sessions("erin").sessions == [] and repo.list_user_sessions("erin").total == 0
    # And once the stream ran, nothing of erin is left but the erasure's record
    batches = settle(reader, handler)
    progress = repo.erasure("erin")
    assert progress.status == "erased" and progress.items_deleted > 20
    left = _mentions(ddb, "erin", *ids)
    assert [(i["PK"]["S"], i["SK"]["S"]) for i in left] == [("ERASURE#erin", "PROGRESS")]
    assert set(deserialize(left[0])) == {
        "PK", "SK", "entity", "user_id", "status", "started_at", "finished_at", "expires_at",
        "sessions_erased", "sessions_cleared", "items_deleted", "passes", "moved_at",
    }  # fmt: skip
    assert int(deserialize(left[0])["sessions_erased"]) == 4 == int(deserialize(left[0])["sessions_cleared"])
    # The statistics lost exactly erin's share; the other users kept everything
    assert stats(ddb) == {
        "total_sessions": before["total_sessions"] - 4,
        "active_sessions": before["active_sessions"] - 3,
        "total_messages": before["total_messages"] - sum(s["message_count"] for s in erins),
        "total_tokens": before["total_tokens"] - sum(s["total_tokens"] for s in erins),
        "total_cost": before["total_cost"] - sum(s["total_cost"] for s in erins),
    }
    assert same(stats(ddb), truth(ddb))
    assert {user: counts(ddb, user) for user in others} == others
    # And the stream delivered again, batch by batch, changes nothing and brings nothing back
    after = stats(ddb)
    for batch in batches:
        assert handler(batch) == {"batchItemFailures": []}
    settle(reader, handler)
    assert stats(ddb) == after
    assert [(i["PK"]["S"], i["SK"]["S"]) for i in _mentions(ddb, "erin", *ids)] == [("ERASURE#erin", "PROGRESS")]
    # And erin may start again
    _, created = repo.create_session("erin", SessionCreate(user_id="erin"))
    assert created and repo.list_user_sessions("erin").total == 1
    settle(reader, handler)
    assert same(stats(ddb), truth(ddb))


def test_erasing_a_user_without_data_finishes_at_once(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    repo.erase_user("nobody")
    settle(reader, handler)
    assert repo.erasure("nobody").status == "erased"
    assert [(i["PK"]["S"], i["SK"]["S"]) for i in _mentions(ddb, "nobody")] == [("ERASURE#nobody", "PROGRESS")]


def test_a_permanent_delete_forgets_the_sessions_mark_once_its_tombstone_is_gone(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    sid = _rich_session(repo, "fay")
    settle(reader, handler)
    assert _mentions(ddb, f"STREAM#SESSION#{sid}")
    repo.delete_session(sid, "fay")
    batches = settle(reader, handler)
    assert _mentions(ddb, sid) == []
    after = stats(ddb)
    for batch in batches:  # delivered again: skipped, though the mark is gone
        assert handler(batch) == {"batchItemFailures": []}
    assert stats(ddb) == after and _mentions(ddb, sid) == []
