"""Permanent delete on DynamoDB Local (SPEC section 9, issue 13): the request answers at once, every reader
finds the session gone from that moment, and once the stream function has applied the table's records the
partition holds nothing of it, the statistics dropped by exactly its share and the owner's counts are exact.
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
from session_service.data import dynamo, keys
from session_service.errors import SessionNotFound
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, MessageRole, MessageStatus, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer

pytestmark = pytest.mark.dynamodb_local


@pytest.fixture
def own_table(dynamodb_local: DynamoDBLocal) -> Iterator[tuple[SessionRepository, Any, str]]:
    """A table of this test's own (its stream from the start, its STATS its own)."""
    client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    table = f"session-service-delete-{uuid.uuid4().hex[:8]}"
    create_table(client, table)
    try:
        yield SessionRepository(client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32)), client, table
    finally:
        client.delete_table(TableName=table)


def _settle(processor: StreamProcessor, reader: StreamReader) -> None:
    """Apply the table's stream in batches of 100 until it is quiet (the function's own writes come back)."""
    for _ in range(10):
        records = reader.drain()
        if not records:
            return
        for first in range(0, len(records), 100):
            assert processor.handle({"Records": records[first : first + 100]}) == {"batchItemFailures": []}
    raise AssertionError("the stream was not quiet after 10 rounds")


def _stats(client: Any, table: str) -> dict[str, Any]:
    return dynamo.deserialize(client.get_item(TableName=table, Key=keys.STATS_KEY, ConsistentRead=True)["Item"])


def test_a_permanent_delete_is_gone_at_once_and_leaves_the_table_with_the_stream(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    repo, client, table = own_table
    user = f"it_user_{uuid.uuid4().hex[:8]}"
    sid = repo.create_session(user, SessionCreate(user_id=user, title="to forget"))[0].session_id
    kept = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    messages = [
        MessageCreate(role=MessageRole.USER, content=f"m{i}", tokens_used=i, cost_usd=Decimal(i) / 1000)
        for i in range(1, 41)
    ]
    for first in range(0, 40, 10):
        repo.append_messages(sid, user, messages[first : first + 10])
    reply = repo.append_messages(
        sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
    )[0]
    repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="so far"))
    repo.add_memory(sid, user, MemoryCreate(memory_type="entity", content="a secret"))
    repo.append_messages(kept, user, messages[:3])
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    _settle(processor, reader)
    before = _stats(client, table)
    hot = dynamo.deserialize(client.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])

    repo.delete_session(sid, user)

    # Gone for every reader at once, before the stream runs.
    for read in (repo.get_session, repo.list_messages, repo.session_exists):
        with pytest.raises(SessionNotFound):
            read(sid, user)
    listing = repo.list_user_sessions(user)
    assert [row.session_id for row in listing.sessions] == [kept] and listing.total == 1

    _settle(processor, reader)

    assert list(dynamo.query_keys(client, table, keys.session_pk(sid))) == []
    scan = [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    assert [item for item in scan if sid in json.dumps(item)] == []  # its applied mark too
    after = _stats(client, table)
    assert after["total_sessions"] == before["total_sessions"] - 1
    assert after["active_sessions"] == before["active_sessions"] - 1
    assert after["total_messages"] == before["total_messages"] - hot["message_count"] == 3
    assert after["total_tokens"] == before["total_tokens"] - hot["total_tokens"]
    assert after["total_cost"] == before["total_cost"] - hot["total_cost"]
    counts = client.get_item(TableName=table, Key=keys.user_counts_key(user), ConsistentRead=True)["Item"]
    assert (counts["sessions"]["N"], counts["status_active"]["N"]) == ("1", "1")
    assert repo.get_session(kept, user).message_count == 3
