"""Summaries are made by the stream's second consumer, apart from the statistics (SPEC section 6): every summary
point gets its summary, a replay asks the summarizer nothing, and a slow summarizer never delays the statistics."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import pytest

from devserver.lambda_runtime import LambdaContext, load_handler_module
from devserver.streams import StreamReader
from session_service import wiring
from session_service.data.dynamo import deserialize
from session_service.data.keys import summary_key
from session_service.models import MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.stream.records import summary_point
from session_service.stream.summaries import SummaryWriter
from session_service.summarizer import ExtractiveSummarizer, MessageLike
from tests.stream.conftest import HANDLER_DIR, SUMMARIES_DIR
from tests.support import stats_item

pytestmark = pytest.mark.fresh_table  # STATS and the stream are table-wide

TABLE = os.environ["TABLE_NAME"]


class CountingSummarizer:
    """The extractive summarizer, counting its calls; ``delay`` seconds per call (a model's latency)."""

    def __init__(self, delay: float = 0.0) -> None:
        self.calls = 0
        self.delay = delay
        self.inner = ExtractiveSummarizer()

    def summarize(self, messages: Sequence[MessageLike]) -> str:
        self.calls += 1
        time.sleep(self.delay)
        return self.inner.summarize(messages)


def _msg(text: str) -> MessageCreate:
    return MessageCreate(role="user", content=text, tokens_used=2, cost_usd=Decimal("0.01"))


def _summaries_written(records: list[dict[str, Any]]) -> list[int]:
    """``summary_messages`` of every summary item write the stream shows, in order."""
    return [
        int(r["dynamodb"]["NewImage"]["summary_messages"]["N"])
        for r in records
        if r["dynamodb"]["Keys"]["SK"]["S"] == "SESSION#SUMMARY" and r["eventName"] != "REMOVE"
    ]


def _stats(ddb: Any) -> dict[str, Any]:
    return stats_item(ddb, TABLE)


def test_every_summary_point_gets_its_summary_and_a_replay_writes_none(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    # Given: a session whose messages arrive one by one, each append's records delivered as their own batch
    summarizer = CountingSummarizer()
    statistics, summaries = StreamProcessor(ddb, TABLE), SummaryWriter(ddb, TABLE, summarizer)
    session, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    delivered: list[dict[str, Any]] = []
    written: list[int] = []
    for i in range(1, 46):
        repo.append_messages(session.session_id, "alice", [_msg(f"Message {i} about hiking in the Alps.")])
        batch = reader.drain()
        delivered += batch
        statistics.handle({"Records": batch})
        summaries.apply(batch)
        written += _summaries_written(reader.drain())  # the summary writes' own records
    # Then: one summary per summary point, each covering exactly the messages of its point
    points = [count for count in range(1, 46) if summary_point(count)]
    assert points == [1, 2, 3, 5, 10, 20, 30, 40]
    assert written == points and summarizer.calls == len(points)
    assert int(_stats(ddb)["total_messages"]) == 45

    # When: the whole stream is delivered again in one batch (a replay)
    outcome = summaries.apply(delivered)
    # Then: the stored summary covers the session's newest image: nothing is made or written
    assert (outcome.due, outcome.covered, outcome.written) == (1, 1, 0)
    assert summarizer.calls == len(points) and _summaries_written(reader.drain()) == []


def test_a_batch_passing_several_points_writes_one_summary_covering_the_newest(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    summarizer = CountingSummarizer()
    a, _ = repo.create_session("alice", SessionCreate(user_id="alice"))
    b, _ = repo.create_session("bob", SessionCreate(user_id="bob"))
    for i in range(12):
        repo.append_messages(a.session_id, "alice", [_msg(f"Alice's point {i} on sourdough.")])
    repo.append_messages(b.session_id, "bob", [_msg("Bob asks about trains."), _msg("And ferries.")])
    outcome = SummaryWriter(ddb, TABLE, summarizer).apply(reader.drain())
    assert (outcome.due, outcome.written, summarizer.calls) == (2, 2, 2)
    assert sorted(_summaries_written(reader.drain())) == [2, 12]


def test_a_slow_summarizer_does_not_delay_the_statistics(
    repo: SessionRepository, ddb: Any, reader: StreamReader, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given: a summarizer that takes 3 s a call (a model under load), configured for the deployed functions
    slow = CountingSummarizer(delay=3.0)
    monkeypatch.setattr("session_service.summarizer.summarizer_for", lambda _model_id: slow)
    wiring.reset()
    for user in ("ann", "ben", "cid"):
        session, _ = repo.create_session(user, SessionCreate(user_id=user))
        repo.append_messages(session.session_id, user, [_msg(f"{user} plans a trip."), _msg("By train.")])
    batch = reader.drain()

    # When: the statistics function gets the batch
    started = time.monotonic()
    answer = load_handler_module(HANDLER_DIR).lambda_handler({"Records": batch}, LambdaContext())
    elapsed = time.monotonic() - started

    # Then: it committed the statistics without asking the summarizer anything
    assert answer == {"batchItemFailures": []}
    assert slow.calls == 0 and elapsed < 2.0
    assert (int(_stats(ddb)["total_sessions"]), int(_stats(ddb)["total_messages"])) == (3, 6)
    ids = [s.session_id for user in ("ann", "ben", "cid") for s in repo.list_user_sessions(user).sessions]
    assert not any("Item" in ddb.get_item(TableName=TABLE, Key=summary_key(i)) for i in ids)

    # And the summary function makes the three summaries apart, concurrently (not 3 x 3 s)
    slow.delay = 1.0
    started = time.monotonic()
    load_handler_module(SUMMARIES_DIR).lambda_handler({"Records": batch}, LambdaContext())
    assert slow.calls == 3 and time.monotonic() - started < 2.5
    assert all("Item" in ddb.get_item(TableName=TABLE, Key=summary_key(i)) for i in ids)


def test_a_summary_of_a_session_deleted_meanwhile_is_not_kept(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    session, _ = repo.create_session("dora", SessionCreate(user_id="dora"))
    repo.append_messages(session.session_id, "dora", [_msg("Soon gone.")])
    batch = reader.drain()
    repo.delete_session(session.session_id, "dora")  # a tombstone, before the summary is made
    outcome = SummaryWriter(ddb, TABLE, CountingSummarizer()).apply(batch)
    assert outcome.due == 1 and outcome.written == 0
    assert "Item" not in ddb.get_item(TableName=TABLE, Key=summary_key(session.session_id), ConsistentRead=True)


def test_a_point_passed_again_after_a_removal_gets_a_new_summary(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    summarizer = CountingSummarizer()
    summaries = SummaryWriter(ddb, TABLE, summarizer)
    session, _ = repo.create_session("eve", SessionCreate(user_id="eve"))
    repo.append_messages(session.session_id, "eve", [_msg(f"Old topic {i}: chess openings.") for i in range(5)])
    summaries.apply(reader.drain())
    newest = repo.list_messages(session.session_id, "eve").messages[-1]
    repo.delete_message(session.session_id, "eve", newest.message_id)  # message_count 5 -> 4
    repo.append_messages(session.session_id, "eve", [_msg("New topic: glacier hikes.")])  # 4 -> 5 again
    outcome = summaries.apply(reader.drain())
    assert outcome.written == 1 and summarizer.calls == 2
    item = deserialize(ddb.get_item(TableName=TABLE, Key=summary_key(session.session_id))["Item"])
    assert "glacier" in item["session_summary"]
