"""Pop and clear on DynamoDB Local: truly concurrent pops never return the same message; after a random
sequence of appends, streamed replies, pops and clears, the stream function applied by the real processor leaves
each user's usage and the statistics equal to what a Scan recomputes, and nothing popped or cleared behind (no
message, chunk or reserved id, no pending cut)."""

from __future__ import annotations

import random
import uuid
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service.data import dynamo, items
from session_service.models import ChunkCreate, MessageCreate, MessageRole, MessageStatus, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer
from tests.integration.test_usage_local import MODELS, truth

pytestmark = pytest.mark.dynamodb_local


def test_ten_concurrent_pops_of_ten_messages_return_ten_different_ones_and_leave_it_empty(
    own_table: tuple[SessionRepository, Any, str],
) -> None:
    repo, _, _ = own_table
    user = f"it_pop_{uuid.uuid4().hex[:6]}"
    sid = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
    stored = repo.append_messages(
        sid,
        user,
        [
            MessageCreate(role=MessageRole.USER, content=f"item {n}", tokens_used=n + 1, message_id=str(uuid.uuid4()))
            for n in range(10)
        ],
    )
    with ThreadPoolExecutor(max_workers=10) as pool:
        popped = list(pool.map(lambda _: repo.pop_messages(sid, user, 1), range(10)))
    assert all(len(messages) == 1 for messages in popped)
    assert sorted(m.message_id for messages in popped for m in messages) == sorted(m.message_id for m in stored)
    session = repo.get_session(sid, user)
    assert (session.message_count, session.total_tokens) == (0, 0)
    assert repo.list_messages(sid, user).messages == []
    assert repo.pop_messages(sid, user, 1) == []


def test_the_stream_keeps_usage_and_statistics_exact_through_pops_and_clears(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    repo, client, table = own_table
    rng = random.Random(20)
    users = [f"it_pop_clear_{i}_{uuid.uuid4().hex[:6]}" for i in range(2)]
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    sessions = {user: [repo.create_session(user, SessionCreate(user_id=user))[0].session_id] for user in users}
    pops = clears = 0

    def apply_stream() -> None:
        for _ in range(10):
            records = reader.drain()
            if not records:
                return
            for first in range(0, len(records), 100):
                batch = {"Records": records[first : first + 100]}
                assert processor.handle(batch) == {"batchItemFailures": []}
        raise AssertionError("the stream was not quiet after 10 rounds")

    def new_message(streamed: bool = False) -> MessageCreate:
        model = rng.choice(MODELS)
        if streamed:
            return MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS, **model)
        cost = Decimal(rng.randint(0, 10**6)) / Decimal(10**9)
        message_id = str(uuid.uuid4()) if rng.random() < 0.5 else None
        data = {"text": "structured", "n": rng.random()} if rng.random() < 0.5 else None
        return MessageCreate(
            role=MessageRole.USER,
            content="" if data and rng.random() < 0.5 else "m",
            data=data,
            tokens_used=rng.randint(0, 500),
            cost_usd=cost,
            message_id=message_id,
            **model,
        )

    for step in range(100):
        user = rng.choice(users)
        sid = rng.choice(sessions[user])
        action = rng.random()
        if action < 0.45:
            repo.append_messages(sid, user, [new_message() for _ in range(rng.randint(1, 5))])
        elif action < 0.6:
            reply = repo.append_messages(sid, user, [new_message(streamed=True)])[0]
            repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="streamed"))
        elif action < 0.85:
            pops += len(repo.pop_messages(sid, user, rng.randint(1, 6)))
        elif action < 0.95:
            clears += repo.clear_messages(sid, user)
        else:
            sessions[user].append(repo.create_session(user, SessionCreate(user_id=user))[0].session_id)
        if step % 10 == 0:
            apply_stream()
    apply_stream()
    assert pops > 10 and clears > 10

    expected = truth(client, table)
    for user in users:
        assert repo.get_usage(user) == expected[user]
    stats, usages = repo.get_stats(), [repo.get_usage(user) for user in users]
    assert stats.total_messages == sum(u.messages for u in usages)
    assert stats.total_tokens == sum(u.tokens for u in usages)
    assert stats.total_cost == sum((u.cost for u in usages), Decimal(0))
    # Nothing popped or cleared is left behind: every cut applied, every chunk and reserved id has its message
    everything = [
        dynamo.deserialize(i) for page in client.get_paginator("scan").paginate(TableName=table) for i in page["Items"]
    ]
    hots = [i for i in everything if i.get("entity") == items.SESSION_ENTITY]
    assert all(not hot.get("cuts") for hot in hots)
    message_keys = {(i["PK"], i["SK"]) for i in everything if i.get("entity") == items.MESSAGE_ENTITY}
    message_ids = {
        (i["PK"], items.message_id_of(i["SK"])) for i in everything if i.get("entity") == items.MESSAGE_ENTITY
    }
    for item in everything:
        if item.get("entity") == items.MESSAGE_ID_ENTITY:
            assert (item["PK"], item["message_sk"]) in message_keys, item
        if item.get("entity") == items.CHUNK_ENTITY:
            assert (item["PK"], item["message_id"]) in message_ids, item
    for hot in hots:
        shown = [i for i in everything if i.get("entity") == items.MESSAGE_ENTITY and i["PK"] == hot["PK"]]
        assert hot["message_count"] == len(shown)
