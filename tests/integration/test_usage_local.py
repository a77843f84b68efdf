"""Per-user usage on DynamoDB Local (SPEC section 9): a random sequence of writes over two users,
the stream applied by the real processor (some batches delivered twice), then each user's usage equals what
a Scan of the table recomputes, by provider and model, and the usages add up to the statistics.
"""

from __future__ import annotations

import random
import uuid
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service import rules
from session_service.data import dynamo, items, keys
from session_service.models import (
    ChunkCreate,
    MessageCreate,
    MessageRole,
    MessageStatus,
    MessageUpdate,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
    Usage,
)
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer

pytestmark = pytest.mark.dynamodb_local

MODELS: list[dict[str, str]] = [
    {},
    {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0"},
    {"provider": "openai", "model": "gpt-4o"},
    {"model": "llama3"},
    {"provider": "mistral"},
]


def truth(client: Any, table: str) -> dict[str, Usage]:
    """Each user's usage recomputed from a Scan: the live sessions and the messages they show."""
    everything = [
        dynamo.deserialize(i) for page in client.get_paginator("scan").paginate(TableName=table) for i in page["Items"]
    ]
    hots = {i["session_id"]: i for i in everything if i.get("entity") == "session" and not items.is_tombstone(i)}
    totals: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[tuple[Any, Any], list[Any]]] = {}
    for hot in hots.values():
        total = totals.setdefault(
            hot["user_id"], dict.fromkeys(("sessions", "active_sessions", "messages", "tokens"), 0)
        )
        total["sessions"] += 1
        total["active_sessions"] += hot["status"] == "active"
    for message in everything:
        hot = hots.get(keys.session_id_of(str(message["PK"])))  # a message item names its session by its key
        if message.get("entity") != "message" or hot is None:
            continue
        if message["created_at"] < hot["created_at"] or not rules.visible(message["SK"], hot):
            continue
        total, cost = totals[hot["user_id"]], Decimal(message["cost_usd"])
        total["messages"] += 1
        total["tokens"] += int(message["tokens_used"])
        total["cost"] = total.get("cost", Decimal(0)) + cost
        row = rows.setdefault(hot["user_id"], {}).setdefault((message.get("provider"), message.get("model")), [0, 0, 0])
        row[0], row[1], row[2] = row[0] + 1, row[1] + int(message["tokens_used"]), row[2] + cost
    found = {}
    for user, total in totals.items():
        by_model = (
            [
                {"provider": p, "model": m, "messages": n, "tokens": t, "cost": c}
                for (p, m), (n, t, c) in rows[user].items()
            ]
            if user in rows
            else []
        )
        by_model.sort(
            key=lambda r: (-r["cost"], r["provider"] is None, r["provider"] or "", r["model"] is None, r["model"] or "")
        )
        found[user] = Usage(user_id=user, by_model=by_model, **total)
    return found


def test_usage_equals_the_table_after_a_random_sequence_and_adds_up_to_the_stats(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    repo, client, table = own_table
    rng = random.Random(13)
    users = [f"it_usage_{i}_{uuid.uuid4().hex[:6]}" for i in range(2)]
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    sessions: dict[str, list[str]] = {user: [] for user in users}
    replayed = 0

    def apply_stream() -> None:
        nonlocal replayed
        for _ in range(10):
            records = reader.drain()
            if not records:
                return
            for first in range(0, len(records), 100):
                batch = {"Records": records[first : first + 100]}
                assert processor.handle(batch) == {"batchItemFailures": []}
                if rng.random() < 0.3:  # Lambda delivers a batch again
                    assert processor.handle(batch) == {"batchItemFailures": []}
                    replayed += 1
        raise AssertionError("the stream was not quiet after 10 rounds")

    def new_message(streamed: bool = False) -> MessageCreate:
        model = rng.choice(MODELS)
        if streamed:
            return MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS, **model)
        cost = Decimal(rng.randint(0, 10**6)) / Decimal(10**9)
        return MessageCreate(
            role=MessageRole.USER, content="m", tokens_used=rng.randint(0, 500), cost_usd=cost, **model
        )

    for step in range(120):
        user = rng.choice(users)
        live = [sid for sid in sessions[user] if repo.get_session(sid, user).status == SessionStatus.ACTIVE]
        action = rng.random()
        if not live or action < 0.1:
            sessions[user].append(repo.create_session(user, SessionCreate(user_id=user))[0].session_id)
            continue
        sid = rng.choice(live)
        messages = repo.list_messages(sid, user, page_size=200).messages
        if action < 0.45 or not messages:
            repo.append_messages(sid, user, [new_message() for _ in range(rng.randint(1, 4))])
        elif action < 0.55:
            reply = repo.append_messages(sid, user, [new_message(streamed=True)])[0]
            repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="streamed"))
            if rng.random() < 0.8:
                update = MessageUpdate(status="completed", tokens_used=rng.randint(1, 99), cost_usd=Decimal("0.003"))
                repo.update_message(sid, user, reply.message_id, update)
        elif action < 0.7:
            target = rng.choice([m for m in messages if m.status != MessageStatus.IN_PROGRESS] or messages)
            if target.status == MessageStatus.IN_PROGRESS:
                repo.update_message(sid, user, target.message_id, MessageUpdate(status="incomplete"))
            else:
                model = rng.choice(MODELS[1:])
                repo.update_message(
                    sid, user, target.message_id, MessageUpdate(tokens_used=rng.randint(0, 50), **model)
                )
        elif action < 0.8:
            repo.delete_message(sid, user, rng.choice(messages).message_id)
        elif action < 0.87:
            repo.truncate_after(sid, user, rng.choice(messages).message_id)
        elif action < 0.93:
            repo.update_session(sid, user, SessionUpdate(status="ended"))
        else:
            repo.delete_session(sid, user)
            sessions[user].remove(sid)
        if step % 15 == 0:
            apply_stream()
    apply_stream()

    expected = truth(client, table)
    assert set(expected) == set(users)
    for user in users:
        assert repo.get_usage(user) == expected[user]
    assert repo.get_usage("nobody_at_all") == Usage(user_id="nobody_at_all")
    stats, usages = repo.get_stats(), [repo.get_usage(user) for user in users]
    assert stats.total_sessions == sum(u.sessions for u in usages) > 0
    assert stats.active_sessions == sum(u.active_sessions for u in usages)
    assert stats.total_messages == sum(u.messages for u in usages) > 0
    assert stats.total_tokens == sum(u.tokens for u in usages)
    assert stats.total_cost == sum((u.cost for u in usages), Decimal(0))
    assert any(len(u.by_model) > 2 for u in usages) and replayed > 0
