"""Permanent delete on DynamoDB Local (SPEC section 9): the request answers at once, every reader
finds the session gone from that moment, and once the stream function has applied the table's records the
partition holds nothing of it, the statistics dropped by exactly its share and the owner's counts are exact.
"""

from __future__ import annotations

import json
import uuid
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service.data import dynamo, keys
from session_service.errors import SessionNotFound
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, MessageRole, MessageStatus, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer
from tests.support import handle_with, settle, stats_item

pytestmark = pytest.mark.dynamodb_local


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
    settle(reader, handle_with(processor), rounds=10, batch_size=100)
    before = stats_item(client, table)
    hot = dynamo.deserialize(client.get_item(TableName=table, Key=keys.session_key(sid), ConsistentRead=True)["Item"])

    repo.delete_session(sid, user)

    # Gone for every reader at once, before the stream runs.
    for read in (repo.get_session, repo.list_messages, repo.session_exists):
        with pytest.raises(SessionNotFound):
            read(sid, user)
    listing = repo.list_user_sessions(user)
    assert [row.session_id for row in listing.sessions] == [kept] and listing.total == 1

    settle(reader, handle_with(processor), rounds=10, batch_size=100)

    assert list(dynamo.query_keys(client, table, keys.session_pk(sid))) == []
    scan = [item for page in client.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
    assert [item for item in scan if sid in json.dumps(item)] == []  # its applied mark too
    after = stats_item(client, table)
    assert after["total_sessions"] == before["total_sessions"] - 1
    assert after["active_sessions"] == before["active_sessions"] - 1
    assert after["total_messages"] == before["total_messages"] - hot["message_count"] == 3
    assert after["total_tokens"] == before["total_tokens"] - hot["total_tokens"]
    assert after["total_cost"] == before["total_cost"] - hot["total_cost"]
    counts = client.get_item(TableName=table, Key=keys.user_counts_key(user), ConsistentRead=True)["Item"]
    assert (counts["sessions"]["N"], counts["status_active"]["N"]) == ("1", "1")
    assert repo.get_session(kept, user).message_count == 3
