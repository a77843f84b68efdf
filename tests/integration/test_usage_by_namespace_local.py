"""A user's usage by namespace on DynamoDB Local: a random sequence of writes over two users' sessions in two
namespaces and in none, the stream applied by the real processor (some batches delivered twice), then each user's
``by_namespace`` rows equal what a Scan of the live hot items recomputes, and add up to the totals, and a namespace's
usage by user (GSI3, paged) holds the same rows.
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
from session_service.data import dynamo, items
from session_service.models import MessageCreate, MessageRole, SessionCreate, SessionStatus, SessionUpdate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor

pytestmark = pytest.mark.dynamodb_local

NAMESPACES = [None, "ns-a", "ns-b"]
Row = tuple[str | None, int, int, int, int, Decimal]


def truth(client: Any, table: str, user: str) -> set[Row]:
    """``user``'s rows by namespace from the live hot items (none when no session of theirs is in a namespace)."""
    rows: dict[str | None, list[Any]] = {}
    for page in client.get_paginator("scan").paginate(TableName=table):
        for raw in page["Items"]:
            hot = dynamo.deserialize(raw)
            if hot.get("entity") != "session" or items.is_tombstone(hot) or hot["user_id"] != user:
                continue
            row = rows.setdefault(hot.get("namespace"), [0, 0, 0, 0, Decimal(0)])
            row[0] += 1
            row[1] += hot["status"] == "active"
            row[2] += int(hot["message_count"])
            row[3] += int(hot["total_tokens"])
            row[4] += Decimal(hot["total_cost"])
    found = {(ns, *values) for ns, values in rows.items() if any(values)}
    return found if any(row[0] is not None for row in found) else set()  # type: ignore[misc]


def test_usage_by_namespace_equals_the_table_after_a_random_sequence(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    repo, client, table = own_table
    rng = random.Random(22)
    users = [f"it_nsusage_{i}_{uuid.uuid4().hex[:6]}" for i in range(2)]
    processor = StreamProcessor(client, table)
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

    for step in range(80):
        user = rng.choice(users)
        live = [sid for sid in sessions[user] if repo.get_session(sid, user).status == SessionStatus.ACTIVE]
        action = rng.random()
        if not live or action < 0.15:
            create = SessionCreate(user_id=user, namespace=rng.choice(NAMESPACES))
            sessions[user].append(repo.create_session(user, create)[0].session_id)
            continue
        sid = rng.choice(live)
        if action < 0.7:
            cost = Decimal(rng.randint(0, 10**6)) / Decimal(10**9)
            message = MessageCreate(role=MessageRole.USER, content="m", tokens_used=rng.randint(0, 500), cost_usd=cost)
            repo.append_messages(sid, user, [message] * rng.randint(1, 3))
        elif action < 0.8:
            messages = repo.list_messages(sid, user).messages
            if messages:
                repo.delete_message(sid, user, rng.choice(messages).message_id)
        elif action < 0.9:
            repo.update_session(sid, user, SessionUpdate(status="ended"))
        else:
            repo.delete_session(sid, user)
            sessions[user].remove(sid)
        if step % 10 == 0:
            apply_stream()
    apply_stream()

    for user in users:
        usage = repo.get_usage(user)
        served = {
            (r.namespace, r.sessions, r.active_sessions, r.messages, r.tokens, r.cost) for r in usage.by_namespace
        }
        assert served == truth(client, table, user)
        assert sum(r.messages for r in usage.by_namespace) == usage.messages
        assert sum((r.cost for r in usage.by_namespace), Decimal(0)) == usage.cost
    assert replayed > 0 and any(repo.get_usage(user).by_namespace for user in users)
    # A namespace's usage by user (GSI3, paged) holds each user's own row of it
    for namespace in NAMESPACES[1:]:
        rows, token = [], None
        while True:
            page = repo.get_namespace_usage(namespace, page_size=1, next_token=token)
            rows += [(r.user_id, r.sessions, r.active_sessions, r.messages, r.tokens, r.cost) for r in page.users]
            if page.next_token is None:
                break
            token = page.next_token
        expected = [
            (user, *row[1:]) for user in sorted(users) for row in truth(client, table, user) if row[0] == namespace
        ]
        assert rows == expected
