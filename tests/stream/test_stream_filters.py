"""Only the records a stream function needs reach it: each event source mapping's ``FilterCriteria`` in
``template.yaml`` (the one source of truth) drops the rest before invocation, on AWS and in ``make serve``'s
delivery (``devserver.streams``), and the statistics function's own writes never come back to it as work."""

from __future__ import annotations

import os
from decimal import Decimal
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord

from devserver.streams import StreamPoller, filters_of, passes, record_matches, stream_consumers
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, MessageUpdate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor, parse_record
from session_service.stream.summaries import SummaryWriter, due_sessions
from session_service.summarizer import ExtractiveSummarizer

pytestmark = pytest.mark.fresh_table  # the table's stream from its start

TABLE = os.environ["TABLE_NAME"]


def _record(raw: dict[str, Any]) -> DynamoDBRecord:
    return DynamoDBRecord(raw)


def _filters() -> dict[str, list[dict[str, Any]]]:
    return {c.function: filters_of(c.event_source) for c in stream_consumers()}


def _sort_key(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["SK"]["S"])


def _partition_key(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["PK"]["S"])


def _activity(repo: SessionRepository) -> None:
    """Every kind of write: sessions, messages (a streamed reply finalized), memory, an erasure."""
    session, _ = repo.create_session("fay", SessionCreate(user_id="fay"))
    sid = session.session_id
    repo.append_messages(
        sid, "fay", [MessageCreate(role="user", content="Hi.", tokens_used=2, cost_usd=Decimal("0.01"), model="m")]
    )
    reply = repo.append_messages(sid, "fay", [MessageCreate(role="assistant", content="", status="in_progress")])
    repo.add_chunk(sid, "fay", reply[0].message_id, ChunkCreate(index=0, content="Hello"))
    repo.update_message(sid, "fay", reply[0].message_id, MessageUpdate(status="completed"))
    repo.add_memory(sid, "fay", MemoryCreate(memory_type="entity", content="likes tea"))
    repo.create_session("gil", SessionCreate(user_id="gil"))
    repo.erase_user("gil")


def test_the_statistics_filter_drops_only_records_the_function_ignores(
    repo: SessionRepository, ddb: Any, reader: Any
) -> None:
    statistics = _filters()["StreamProcessorFunction"]
    _activity(repo)
    first = reader.drain()
    assert any(parse_record(_record(r)).kind == "chunks" for r in first)
    processor = StreamProcessor(ddb, TABLE, ExtractiveSummarizer())
    processor.handle({"Records": first})
    own = reader.drain()  # STATS, COUNTS, USAGE, MODEL#, marks, summaries, index moves, erasure passes
    assert {_sort_key(r) for r in own} >= {"GLOBAL", "APPLIED", "USAGE", "SESSION#SUMMARY"}
    for record in first + own:
        kept = passes(statistics, record)
        change = parse_record(_record(record))
        # Every record the function acts on passes; what it drops is nothing to the function.
        assert kept or change.kind == "other", (record["eventName"], _partition_key(record), _sort_key(record))
    dropped = [r for r in own if not passes(statistics, r)]
    assert {_sort_key(r) for r in dropped} >= {"GLOBAL", "APPLIED", "USAGE", "SESSION#SUMMARY"}
    assert any(_sort_key(r).startswith("MODEL#") for r in dropped)
    assert not any(passes(statistics, r) for r in first if _sort_key(r).startswith(("MEM#", "CHK#")))
    assert all(passes(statistics, r) for r in first + own if _sort_key(r) == "SESSION")
    assert any(passes(statistics, r) for r in first + own if _partition_key(r).startswith("ERASURE#"))


def test_the_summaries_filter_passes_what_asks_for_a_summary(repo: SessionRepository, ddb: Any, reader: Any) -> None:
    summaries = _filters()["SessionSummariesFunction"]
    _activity(repo)
    first = reader.drain()
    kept = [r for r in first if passes(summaries, r)]
    assert kept and all(_sort_key(r) == "SESSION" and r["eventName"] != "REMOVE" for r in kept)
    assert due_sessions(kept) == due_sessions(first)


def test_a_filtered_record_never_reaches_the_handler(repo: SessionRepository, ddb: Any) -> None:
    # Given: make serve's delivery of the statistics function, with the template's filter
    seen: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
        seen.extend(event["Records"])
        return {"batchItemFailures": []}

    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    poller = StreamPoller(
        boto3.client("dynamodbstreams"),
        arn,
        lambda: handler,
        region="us-east-1",
        fresh_iterators=True,
        filters=_filters()["StreamProcessorFunction"],
    )
    # When: sessions get messages and memory, and the handler's deliveries are drained
    _activity(repo)
    while poller.poll_once():
        pass
    # Then: messages, memory and chunks never reached it (but the finalized reply); sessions and the erasure did
    assert poller.stats.filtered > 0
    kinds = {_sort_key(r).split("#")[0] for r in seen}
    assert "SESSION" in kinds and "PROGRESS" in kinds
    assert not kinds & {"MEM", "CHK", "GLOBAL", "APPLIED", "USAGE", "COUNTS"}
    replies = [r for r in seen if _sort_key(r).startswith("MSG#")]
    assert len(replies) == 1 and replies[0]["eventName"] == "MODIFY"  # the reply leaving in_progress
    assert poller.stats.delivered == len(seen)


def test_the_local_filter_reads_lambdas_pattern_syntax() -> None:
    record = {"eventName": "MODIFY", "dynamodb": {"Keys": {"SK": {"S": "MSG#1"}}, "OldImage": {"n": {"N": "3"}}}}
    assert record_matches({"eventName": ["MODIFY", "REMOVE"]}, record)
    assert not record_matches({"eventName": ["INSERT"]}, record)
    assert record_matches({"dynamodb": {"Keys": {"SK": {"S": [{"prefix": "MSG#"}]}}}}, record)
    assert not record_matches({"dynamodb": {"Keys": {"SK": {"S": [{"prefix": "MEM#"}]}}}}, record)
    assert record_matches({"dynamodb": {"NewImage": [{"exists": False}]}}, record)
    assert not record_matches({"dynamodb": {"OldImage": [{"exists": False}]}}, record)
    assert record_matches({"eventName": [{"anything-but": ["INSERT"]}]}, record)
    assert record_matches({"dynamodb": {"OldImage": {"n": {"N": [{"numeric": [">", 2, "<=", 3]}]}}}}, record)
    assert passes([], record) and not passes([{"eventName": ["INSERT"]}], record)


def test_summary_writer_ignores_records_of_other_items(repo: SessionRepository, ddb: Any, reader: Any) -> None:
    _activity(repo)
    records = [r for r in reader.drain() if _sort_key(r) != "SESSION"]
    assert SummaryWriter(ddb, TABLE, ExtractiveSummarizer()).apply(records).due == 0
