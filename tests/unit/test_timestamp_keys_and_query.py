"""A client timestamp's key: fixed-width microseconds that sort like the times, written only by a message with a
timestamp and no agent; the listing from a time is one Query of LSI1 from that time's key, which reads the page (and
one more) whatever the messages before it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from session_service.data import dynamo, keys
from session_service.models import MessageCreate, MessageOrder, MessageRole, SessionCreate
from session_service.repository import SessionRepository

T0 = 1_733_360_000.25


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 12, 5, 1, 0, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def queries(ddb: Any) -> Iterator[list[tuple[dict[str, Any], int]]]:
    """The Queries the repository's client sends: (their parameters, the items DynamoDB read for them)."""
    sent: list[dict[str, Any]] = []
    seen: list[tuple[dict[str, Any], int]] = []

    def before(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            sent.append(dict(params))

    def after(parsed: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name == "Query":
            seen.append((sent.pop(0), int(parsed.get("ScannedCount", 0))))

    ddb.meta.events.register("provide-client-params.dynamodb", before)
    ddb.meta.events.register("after-call.dynamodb", after)
    yield seen
    ddb.meta.events.unregister("provide-client-params.dynamodb", before)
    ddb.meta.events.unregister("after-call.dynamodb", after)


@pytest.mark.parametrize(
    ("seconds", "micros"),
    [(0, 0), (1.000001, 1_000_001), (T0, 1_733_360_000_250_000), (1733360000.123456, 1_733_360_000_123_456)],
)
def test_microseconds_are_kept(seconds: float, micros: int) -> None:
    assert keys.timestamp_micros(seconds) == micros
    assert float(keys.seconds_of_micros(micros)) == seconds


def test_keys_are_fixed_width_and_sort_like_the_times() -> None:
    times = [0, 1, 999_999, 10**16, 10**17 - 1]
    made = [keys.timestamp_message_key(micros, "2026-12-05T01:00:00.000000Z") for micros in times]
    assert made == sorted(made) and len({len(key) for key in made}) == 1
    assert [keys.timestamp_of(key) for key in made] == times
    assert all(
        keys.timestamp_start(micros) <= key < keys.TIMESTAMP_END for micros, key in zip(times, made, strict=True)
    )
    assert keys.timestamp_of("AGENT#a#0000000001") is None and keys.timestamp_of(str(keys.uuid.uuid4())) is None


def _say(text: str, **fields: Any) -> MessageCreate:
    return MessageCreate(role=MessageRole.USER, content=text, **fields)


def test_only_a_message_with_a_timestamp_and_no_agent_writes_the_key(
    store: SessionRepository, ddb: Any, user: str
) -> None:
    sid = store.create_session(user, SessionCreate(user_id=user))[0].session_id
    store.append_messages(
        sid, user, [_say("plain"), _say("timed", timestamp=T0), _say("agent's", agent_id="a", timestamp=T0)]
    )
    found = dynamo.query_keys(ddb, store._store.table.name, keys.session_pk(sid))
    rows = [
        dynamo.deserialize(
            ddb.get_item(TableName=store._store.table.name, Key={"PK": raw["PK"], "SK": raw["SK"]})["Item"]
        )
        for raw in found
        if raw["SK"]["S"].startswith("MSG#")
    ]
    by_content = {row["content"]: row for row in rows}
    assert "LSI1SK" not in by_content["plain"] and "timestamp" not in by_content["plain"]
    assert by_content["timed"]["LSI1SK"].startswith("TS#01733360000250000#") and "timestamp" not in by_content["timed"]
    assert (
        by_content["agent's"]["LSI1SK"].startswith("AGENT#a#")
        and by_content["agent's"]["timestamp"] == 1_733_360_000_250_000
    )


@pytest.mark.parametrize("order", [MessageOrder.ASC, MessageOrder.DESC])
def test_the_query_starts_at_the_time_and_reads_no_earlier_message(
    store: SessionRepository, user: str, queries: list[tuple[dict[str, Any], int]], order: MessageOrder
) -> None:
    read = []
    for before in (3, 150):
        sid = store.create_session(user, SessionCreate(user_id=user))[0].session_id
        for first in range(0, before, 90):
            store.append_messages(
                sid, user, [_say(f"m{i}", timestamp=i) for i in range(first, min(before, first + 90))]
            )
        store.append_messages(sid, user, [_say(f"late {i}", timestamp=T0 + i) for i in range(6)])
        queries.clear()
        page = store.list_messages(sid, user, from_timestamp=T0 + 1, page_size=2, order=order)
        assert len(page.messages) == 2
        (params, scanned), *more = queries
        assert more == []
        assert params["IndexName"] == "LSI1"
        assert params["KeyConditionExpression"] == "PK = :pk AND LSI1SK BETWEEN :first AND :last"
        assert params["ExpressionAttributeValues"][":first"] == {
            "S": keys.timestamp_start(keys.timestamp_micros(T0 + 1))
        }
        assert params["ScanIndexForward"] is (order is MessageOrder.ASC)
        read.append(scanned)
    assert read == [3, 3]  # the page and one more, after 3 or 150 earlier messages
