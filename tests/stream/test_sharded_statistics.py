"""No item is written by every stream batch: ``STATS`` is kept in ``STATS_SHARDS`` shards, a batch adds to one, and
``GET /sessions/stats`` sums them in one request (SPEC section 6)."""

from __future__ import annotations

import os
from collections import Counter
from decimal import Decimal
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service import wiring
from session_service.data import keys
from session_service.data.stats import STATS_SHARDS, stats_shard
from session_service.models import MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from tests.support import stats_item

pytestmark = pytest.mark.fresh_table  # STATS and the stream are table-wide

TABLE = os.environ["TABLE_NAME"]


class StatsWrites:
    """A DynamoDB client counting, per ``STATS`` shard, the committed transactions that write it."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.writes: Counter[str] = Counter()
        self.transactions = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def transact_write_items(self, **kwargs: Any) -> Any:
        response = self._client.transact_write_items(**kwargs)  # counted once committed
        self.transactions += 1
        for action in kwargs["TransactItems"]:
            key = next(iter(action.values()))["Key"]
            if key["SK"]["S"] == "GLOBAL":
                self.writes[key["PK"]["S"]] += 1
        return response


def test_batches_spread_over_the_shards_whatever_the_steps_of_sequence_numbers() -> None:
    for step in (1, 100, 1_000_003):  # moto counts records one by one; DynamoDB's sequence numbers leap
        shards = Counter(stats_shard(4_000_000_000_000_000_000 + i * step) for i in range(1_600))
        assert len(shards) == STATS_SHARDS
        assert max(shards.values()) <= 2 * 1_600 / STATS_SHARDS


def test_no_statistics_item_is_written_by_more_than_a_shard_of_the_batches(
    repo: SessionRepository, ddb: Any, reader: StreamReader
) -> None:
    # Given: 48 batches, each a new session with a message
    recorder = StatsWrites(ddb)
    processor = StreamProcessor(recorder, TABLE, sleep=lambda _: None)
    batches = 48
    for i in range(batches):
        session, _ = repo.create_session(f"u{i}", SessionCreate(user_id=f"u{i}"))
        message = MessageCreate(role="user", content="hi", tokens_used=3, cost_usd=Decimal("0.01"))
        repo.append_messages(session.session_id, f"u{i}", [message])
        processor.handle({"Records": reader.drain()})
    # Then: every batch wrote one STATS shard, the shards in turn: each by exactly 1/N of the batches
    assert sum(recorder.writes.values()) == recorder.transactions == batches
    assert len(recorder.writes) == STATS_SHARDS
    assert set(recorder.writes.values()) == {batches // STATS_SHARDS}
    # And the shards add up to the exact statistics
    totals = stats_item(ddb, TABLE)
    assert (totals["total_sessions"], totals["total_messages"], totals["total_cost"]) == (48, 48, Decimal("0.48"))


def test_get_stats_sums_the_shards_in_one_request(repo: SessionRepository, ddb: Any) -> None:
    for shard in (0, 3, STATS_SHARDS - 1):
        ddb.update_item(
            TableName=TABLE,
            Key=keys.stats_key(shard),
            UpdateExpression="ADD total_sessions :s, total_messages :m, total_cost :c",
            ExpressionAttributeValues={":s": {"N": "2"}, ":m": {"N": "5"}, ":c": {"N": "0.1"}},
        )
    calls: list[str] = []
    client = wiring.dynamodb_client()
    client.meta.events.register("before-call.dynamodb.*", lambda model, **_: calls.append(model.name))
    stats = repo.get_stats()
    assert calls == ["BatchGetItem"]
    assert (stats.total_sessions, stats.total_messages, stats.total_cost) == (6, 15, Decimal("0.3"))
    assert stats.average_messages_per_session == 2.5
