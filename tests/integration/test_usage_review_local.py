"""Review of per-model usage on DynamoDB Local: what DynamoDB's limits make of many, or long, provider and model
strings (an UpdateExpression is at most 4 KB; an item at most 400 KB). moto enforces neither. A session names at
most 16 models (its hot item counts each), and a user's usage is an item per model.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from devserver.template import create_table
from session_service.cursor import CursorCodec
from session_service.data import keys
from session_service.data.dynamo import deserialize
from session_service.errors import TooManyModels
from session_service.models import MAX_MODELS_PER_SESSION, MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def world(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[SessionRepository, Any, str, Any]]:
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    table = f"session-service-review-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    processor = StreamProcessor(client, table, ExtractiveSummarizer(), sleep=lambda _: None)

    def settle() -> None:
        for _ in range(20):
            batch = reader.drain()
            if not batch:
                return
            assert processor.handle({"Records": batch}) == {"batchItemFailures": []}
        raise AssertionError("the stream does not settle")

    try:
        yield SessionRepository(client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32)), client, table, settle
    finally:
        client.delete_table(TableName=table)


def _stats(client: Any, table: str) -> dict[str, Any]:
    item = client.get_item(TableName=table, Key=keys.STATS_KEY, ConsistentRead=True).get("Item")
    return deserialize(item) if item else {}


def _batch(prefix: str, count: int = MAX_MODELS_PER_SESSION) -> list[MessageCreate]:
    """An append of ``count`` messages, each naming a model of its own (128 characters)."""
    return [
        MessageCreate(
            role="user",
            content="x",
            tokens_used=1,
            cost_usd=Decimal("0.01"),
            provider="\U0001f600" * 128,
            model=(f"{prefix}-{i:03d}-" + "m" * 128)[:128],
        )
        for i in range(count)
    ]


def test_a_session_names_at_most_16_models_and_one_that_does_is_deleted_and_leaves_the_stats(world: Any) -> None:
    repo, client, table, settle = world
    session, _ = repo.create_session("many", SessionCreate(user_id="many"))
    with pytest.raises(TooManyModels):  # 17 in one append: refused before any write
        repo.append_messages(session.session_id, "many", _batch("a", MAX_MODELS_PER_SESSION + 1))
    repo.append_messages(session.session_id, "many", _batch("a"))
    repo.append_messages(session.session_id, "many", _batch("a")[:3])  # the same models again
    with pytest.raises(TooManyModels):  # one more: refused by the session's condition, nothing written
        repo.append_messages(session.session_id, "many", _batch("b", 1))
    assert repo.get_session(session.session_id, "many").message_count == MAX_MODELS_PER_SESSION + 3
    settle()
    usage = repo.get_usage("many")
    assert usage.messages == MAX_MODELS_PER_SESSION + 3 and len(usage.by_model) == MAX_MODELS_PER_SESSION
    repo.delete_session(session.session_id, "many")
    settle()  # the tombstone's record takes the whole session out of the owner's usage, one item a model
    assert int(_stats(client, table)["total_sessions"]) == 0
    assert int(_stats(client, table)["total_messages"]) == 0
    assert repo.get_usage("many").messages == 0


def test_many_sessions_of_many_models_in_one_stream_batch_are_applied(world: Any) -> None:
    """A user's per-model usage is an item a model: a batch touching 96 of them is split into transactions."""
    repo, client, table, settle = world
    for number in range(6):
        session, _ = repo.create_session("two", SessionCreate(user_id="two"))
        repo.append_messages(session.session_id, "two", _batch(f"s{number}"))
    settle()
    assert int(_stats(client, table)["total_messages"]) == 6 * MAX_MODELS_PER_SESSION
    usage = repo.get_usage("two")
    assert usage.messages == 6 * MAX_MODELS_PER_SESSION and len(usage.by_model) == 6 * MAX_MODELS_PER_SESSION
    assert all(row.messages == 1 for row in usage.by_model)


def test_a_session_of_long_model_names_keeps_a_small_hot_item(world: Any) -> None:
    repo, client, table, _ = world
    session, _ = repo.create_session("long", SessionCreate(user_id="long"))
    for message in _batch("long"):
        repo.append_messages(session.session_id, "long", [message])
    hot = client.get_item(TableName=table, Key=keys.session_key(session.session_id))["Item"]
    # 16 models of 128-character names: bounded, far from DynamoDB's 400 KB
    assert len(json.dumps(hot, ensure_ascii=False).encode()) < 60_000
    with pytest.raises(TooManyModels):
        repo.append_messages(session.session_id, "long", _batch("more", 1))
