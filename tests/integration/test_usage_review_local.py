"""Review of per-model usage on DynamoDB Local: what DynamoDB's limits make of many, or long, provider and model
strings (an UpdateExpression is at most 4 KB; an item at most 400 KB). moto enforces neither.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from devserver.template import create_table
from session_service import items
from session_service.cursor import CursorCodec
from session_service.dynamo import deserialize
from session_service.models import MessageCreate, SessionCreate
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
    item = client.get_item(TableName=table, Key=items.STATS_KEY, ConsistentRead=True).get("Item")
    return deserialize(item) if item else {}


def _batch(prefix: str) -> list[MessageCreate]:
    """A full append (98 messages), each naming a model of its own."""
    return [
        MessageCreate(role="user", content="x", tokens_used=1, cost_usd=Decimal("0.01"), model=f"{prefix}-{i}")
        for i in range(98)
    ]


def test_a_session_naming_many_models_can_be_deleted_and_its_stats_leave(world: Any) -> None:
    repo, client, table, settle = world
    session, _ = repo.create_session("many", SessionCreate(user_id="many"))
    for prefix in ("a", "b"):
        repo.append_messages(session.session_id, "many", _batch(prefix))
        settle()  # each append's record alone: its usage ADD names 3 x 98 attributes (under 4 KB)
    assert int(_stats(client, table)["total_messages"]) == 196
    repo.delete_session(session.session_id, "many")
    # The tombstone's record takes the whole session out of the owner's usage: 3 x 196 names in one ADD
    settle()
    assert int(_stats(client, table)["total_sessions"]) == 0
    assert int(_stats(client, table)["total_messages"]) == 0


def test_two_appends_of_many_models_in_one_stream_batch_are_applied(world: Any) -> None:
    repo, client, table, settle = world
    session, _ = repo.create_session("two", SessionCreate(user_id="two"))
    for prefix in ("a", "b"):
        repo.append_messages(session.session_id, "two", _batch(prefix))
    settle()  # one batch: the owner's usage deltas are summed into one ADD
    assert int(_stats(client, table)["total_messages"]) == 196
    assert repo.get_usage("two").messages == 196


def test_appends_naming_long_models_keep_working(world: Any) -> None:
    repo, _, _, _ = world
    session, _ = repo.create_session("long", SessionCreate(user_id="long"))
    provider = "\U0001f600" * 128  # 128 characters, 512 bytes: valid (SPEC section 8)
    for number in range(140):
        model = f"{number:03d}" + "\U0001f600" * 125
        repo.append_messages(
            session.session_id,
            "long",
            [
                MessageCreate(
                    role="user", content="x", tokens_used=1, cost_usd=Decimal("0.01"), provider=provider, model=model
                )
            ],
        )
