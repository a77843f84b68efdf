"""The local stream delivery (``devserver.streams``) on moto after a cancelled transaction, and the stream
position a restarted ``make serve`` resumes from.

moto 5 restores a deep copy of the table, stream shard included and under the same shard id, when a
``TransactWriteItems`` is cancelled (a refused append): an iterator taken before keeps reading the
abandoned shard, so statistics and summaries froze after the first 409. The poller reads moto with a
fresh iterator each time (``fresh_iterators``).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest

from devserver.streams import FINISHED, PollerStopped, StreamPoller, StreamPositions
from session_service.errors import SessionNotActive
from session_service.models import MessageCreate, MessageRole, SessionCreate

TABLE = "session-service-test"
USER = "stream_user"

pytestmark = pytest.mark.fresh_table  # each test reads the table's stream from its start


class Collector:
    """A stream function that keeps every record it is given."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def __call__(self, event: dict[str, Any], context: Any) -> None:
        self.records.extend(event["Records"])

    def contents(self) -> list[str]:
        """``content`` of every message item delivered (new images)."""
        found = []
        for record in self.records:
            content = (record["dynamodb"].get("NewImage") or {}).get("content")
            if content:
                found.append(content["S"])
        return found


def _poller(ddb: Any, handler: Collector, **options: Any) -> StreamPoller:
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    return StreamPoller(boto3.client("dynamodbstreams"), arn, lambda: handler, region="us-east-1", **options)


def _message(content: str) -> list[MessageCreate]:
    return [MessageCreate(role=MessageRole.USER, content=content, tokens_used=1)]


def _refuse_an_append(repo: Any) -> None:
    """An ended session refuses an append: a cancelled TransactWriteItems, which moto answers by restoring
    its table copy (with a new stream shard object)."""
    ended, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.end_session(ended.session_id, USER)
    with pytest.raises(SessionNotActive):
        repo.append_messages(ended.session_id, USER, _message("refused"))


def test_poller_follows_the_table_after_a_cancelled_transaction(ddb: Any, repo: Any) -> None:
    # Given: a poller as make serve builds it for moto, which has delivered a first append
    handler = Collector()
    poller = _poller(ddb, handler, fresh_iterators=True)
    first, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.append_messages(first.session_id, USER, _message("before"))
    poller.poll_once()
    assert handler.contents() == ["before"]

    # When: an append is refused, then another session gets a message
    _refuse_an_append(repo)
    second, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.append_messages(second.session_id, USER, _message("after"))
    poller.poll_once()

    # Then: the later writes arrive, and nothing of the cancelled transaction does
    assert handler.contents() == ["before", "after"]
    sequences = [r["dynamodb"]["SequenceNumber"] for r in handler.records]
    assert len(sequences) == len(set(sequences))


def test_without_fresh_iterators_moto_freezes_the_stream(ddb: Any, repo: Any) -> None:
    """The moto behaviour the poller works around (if moto fixes it, ``fresh_iterators`` can go)."""
    handler = Collector()
    poller = _poller(ddb, handler, fresh_iterators=False)
    first, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.append_messages(first.session_id, USER, _message("before"))
    poller.poll_once()
    _refuse_an_append(repo)
    second, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.append_messages(second.session_id, USER, _message("after"))
    for _ in range(3):
        poller.poll_once()
    assert "after" not in handler.contents()


def test_a_restarted_poller_resumes_after_the_last_delivered_record(ddb: Any, repo: Any, tmp_path: Path) -> None:
    positions_file = tmp_path / "stream-positions.json"
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    session, _ = repo.create_session(USER, SessionCreate(user_id=USER))
    repo.append_messages(session.session_id, USER, _message("one"))
    first = Collector()
    _poller(ddb, first, fresh_iterators=True, positions=StreamPositions(positions_file, arn)).poll_once()
    assert first.contents() == ["one"]
    saved = json.loads(positions_file.read_text())[arn]
    assert list(saved.values()) == [first.records[-1]["dynamodb"]["SequenceNumber"]]

    # A new poller (a restarted server) with the same file delivers only what came after.
    repo.append_messages(session.session_id, USER, _message("two"))
    second = Collector()
    _poller(ddb, second, fresh_iterators=True, positions=StreamPositions(positions_file, arn)).poll_once()
    assert second.contents() == ["two"]
    # Without the file it would start at the stream's beginning again.
    third = Collector()
    _poller(ddb, third, fresh_iterators=True).poll_once()
    assert third.contents() == ["one", "two"]


def test_stream_positions_file(tmp_path: Path) -> None:
    path = tmp_path / "positions.json"
    assert StreamPositions(path, "arn:a").shards == {}  # missing file: no positions
    positions = StreamPositions(path, "arn:a")
    positions.save("shard-1", "00042")
    positions.save("shard-0", FINISHED)
    StreamPositions(path, "arn:b").save("shard-9", "7")
    assert StreamPositions(path, "arn:a").shards == {"shard-1": "00042", "shard-0": FINISHED}
    assert StreamPositions(path, "arn:b").shards == {"shard-9": "7"}
    path.write_text("not json")
    assert StreamPositions(path, "arn:a").shards == {}


def test_a_stopping_poller_leaves_a_failing_batch_on_the_stream(ddb: Any, repo: Any, tmp_path: Path) -> None:
    """While the server stops, the stream function's instance may already be gone: the batch it fails is
    neither dead-lettered nor marked delivered, so the next start delivers it."""
    positions_file = tmp_path / "stream-positions.json"
    arn = ddb.describe_table(TableName=TABLE)["Table"]["LatestStreamArn"]
    repo.create_session(USER, SessionCreate(user_id=USER))

    def gone(event: dict[str, Any], context: Any) -> None:
        raise RuntimeError("instance stopped")

    poller = StreamPoller(
        boto3.client("dynamodbstreams"),
        arn,
        lambda: gone,
        region="us-east-1",
        positions=StreamPositions(positions_file, arn),
        fresh_iterators=True,
        max_retries=2,
        retry_delay=0,
    )
    poller.stop()
    with pytest.raises(PollerStopped):
        poller.poll_once()
    assert poller.stats.dead_lettered == []
    assert not positions_file.exists()
    later = Collector()
    _poller(ddb, later, fresh_iterators=True, positions=StreamPositions(positions_file, arn)).poll_once()
    # The create's records (its hot and data items and the owner's counts), none lost, none dead-lettered.
    assert {r["eventName"] for r in later.records} == {"INSERT"}
    assert {r["dynamodb"]["Keys"]["SK"]["S"] for r in later.records} >= {"SESSION", "SESSION#DATA", "COUNTS"}
