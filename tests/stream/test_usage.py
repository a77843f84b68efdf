"""Per-user usage kept by the stream function (SPEC section 9; issue 13), on moto: exact through every path
that moves a session's counters, by provider and model, exactly once, and adding up to the statistics.

The truth is recomputed from a Scan of the table: each user's sessions that exist and the messages they show
(of their incarnation, outside their cuts), grouped by (provider, model).
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.streams import StreamReader
from session_service import rules
from session_service.cursor import CursorCodec
from session_service.data import items, keys, stats
from session_service.data.dynamo import deserialize
from session_service.models import ChunkCreate, MessageCreate, MessageUpdate, SessionCreate, SessionUpdate, Usage
from session_service.repository import SessionRepository
from tests.support import settle

pytestmark = pytest.mark.fresh_table  # STATS, the usage items and the stream are table-wide

TABLE = os.environ["TABLE_NAME"]
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
Row = tuple[str | None, str | None]


def scan(ddb: Any) -> list[dict[str, Any]]:
    return [deserialize(i) for page in ddb.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]]


def truth(ddb: Any) -> dict[str, Usage]:
    """Each user's usage recomputed from the table: the live sessions' hot items and the messages they show."""
    everything = scan(ddb)
    hots = {str(i["session_id"]): i for i in everything if i.get("entity") == "session" and not items.is_tombstone(i)}
    totals: dict[str, dict[str, Any]] = {}
    rows: dict[str, dict[Row, list[Any]]] = {}
    for hot in hots.values():
        user = str(hot["user_id"])
        total = totals.setdefault(user, {"sessions": 0, "active_sessions": 0, "messages": 0, "tokens": 0, "cost": 0})
        total["sessions"] += 1
        total["active_sessions"] += hot["status"] == "active"
    for message in everything:
        hot = hots.get(str(keys.session_id_of(str(message["PK"]))))  # a message item names its session by its key
        if message.get("entity") != "message" or hot is None:
            continue
        if str(message["created_at"]) < str(hot["created_at"]) or not rules.visible(str(message["SK"]), hot):
            continue
        user = str(hot["user_id"])
        total = totals[user]
        row = rows.setdefault(user, {}).setdefault((message.get("provider"), message.get("model")), [0, 0, 0])
        for values in (row, None):
            tokens = 0 if items.is_streaming(message) else int(message["tokens_used"])
            cost = 0 if items.is_streaming(message) else Decimal(message["cost_usd"])
            if values is None:
                total["messages"] += 1
                total["tokens"] += tokens
                total["cost"] += cost
            else:
                values[0] += 1
                values[1] += tokens
                values[2] += cost
    usages = {}
    for user, total in totals.items():
        by_model = [
            {"provider": p, "model": m, "messages": n, "tokens": t, "cost": c}
            for (p, m), (n, t, c) in rows.get(user, {}).items()
        ]
        by_model.sort(
            key=lambda r: (-r["cost"], r["provider"] is None, r["provider"] or "", r["model"] is None, r["model"] or "")
        )
        usages[user] = Usage(user_id=user, by_model=by_model, **total)
    return usages


def served(repo: SessionRepository, users: list[str]) -> dict[str, Usage]:
    """What GET usage answers for each of ``users`` that has a session (a user without one is all zeros)."""
    answers = {user: repo.get_usage(user) for user in users}
    for user, usage in answers.items():
        if usage.sessions == 0:
            assert usage == Usage(user_id=user), usage
    return {user: usage for user, usage in answers.items() if usage.sessions}


def stats_sum_matches(repo: SessionRepository, users: list[str]) -> None:
    """The invariant: the usages of all users add up to the statistics."""
    stats, usages = repo.get_stats(), [repo.get_usage(user) for user in users]
    assert stats.total_sessions == sum(u.sessions for u in usages)
    assert stats.active_sessions == sum(u.active_sessions for u in usages)
    assert stats.total_messages == sum(u.messages for u in usages)
    assert stats.total_tokens == sum(u.tokens for u in usages)
    assert stats.total_cost == sum((u.cost for u in usages), Decimal(0))


def past_repo(ddb: Any) -> SessionRepository:
    """A repository whose clock is 40 days back: its sessions have expired (TTL not run yet)."""
    past = datetime.now(UTC) - timedelta(days=40)
    return SessionRepository(ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("x" * 32), clock=lambda: past)


def message(content: str, tokens: int = 0, cost: str = "0", **fields: Any) -> MessageCreate:
    return MessageCreate(role="assistant", content=content, tokens_used=tokens, cost_usd=Decimal(cost), **fields)


CLAUDE = {"provider": "bedrock", "model": "anthropic.claude-3-5-sonnet-20240620-v1:0"}
GPT = {"provider": "openai", "model": "gpt-4o"}
ONLY_MODEL = {"model": "llama3"}  # no provider: its own row
ODD = {"provider": 'we"ird:by:["x"]', "model": "ü ~ #:c"}  # names that look like the attribute format


def test_usage_by_model_is_exact_through_every_change_of_a_message(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    # Given two users' sessions with messages of several models and of none
    sid, _ = repo.create_session("uma", SessionCreate(user_id="uma"))
    sid = sid.session_id
    other, _ = repo.create_session("vic", SessionCreate(user_id="vic"))
    repo.append_messages(
        sid,
        "uma",
        [
            message("a", 100, "0.01", **CLAUDE),
            message("b", 200, "0.02", **CLAUDE),
            message("c", 50, "0.000000000001", **GPT),
            message("d", 7, "0.5"),
            message("e", 1, "0.1", **ONLY_MODEL),
            message("f", 3, "0.3", **ODD),
        ],
    )
    repo.append_messages(other.session_id, "vic", [message("g", 10, "1.5", **GPT), message("h", 1, "0.25")])
    settle(reader, handler)
    assert served(repo, ["uma", "vic", "nobody"]) == truth(ddb)
    uma = repo.get_usage("uma")
    assert (uma.sessions, uma.active_sessions, uma.messages, uma.tokens) == (1, 1, 6, 361)
    assert uma.cost == Decimal("0.930000000001")
    assert [(r.provider, r.model) for r in uma.by_model] == [
        (None, None),  # 0.5
        (ODD["provider"], ODD["model"]),  # 0.3
        (None, "llama3"),  # 0.1
        ("bedrock", CLAUDE["model"]),  # 0.03
        ("openai", "gpt-4o"),  # 1e-12
    ]
    assert uma.by_model[0].messages == 1 and uma.by_model[0].tokens == 7
    assert sum(r.messages for r in uma.by_model) == uma.messages and sum(r.cost for r in uma.by_model) == uma.cost

    # When a message's model and tokens change, one changes its cost only, one is deleted, one gains a model
    listed = {m.content: m for m in repo.list_messages(sid, "uma").messages}
    repo.update_message(sid, "uma", listed["a"].message_id, MessageUpdate(tokens_used=150, **GPT))
    repo.update_message(sid, "uma", listed["c"].message_id, MessageUpdate(cost_usd=Decimal("0.4")))
    repo.update_message(sid, "uma", listed["d"].message_id, MessageUpdate(provider="mistral"))
    repo.update_message(sid, "uma", listed["e"].message_id, MessageUpdate(metadata={"moves": "nothing"}))
    repo.delete_message(sid, "uma", listed["b"].message_id)
    # And a streamed reply of a model is finalized with its tokens and cost
    reply = repo.append_messages(sid, "uma", [MessageCreate(role="assistant", content="", status="in_progress", **GPT)])
    settle(reader, handler)
    assert served(repo, ["uma", "vic"]) == truth(ddb)  # the reply counts as a message of its model already
    assert next(r for r in repo.get_usage("uma").by_model if r.model == "gpt-4o").messages == 3
    repo.add_chunk(sid, "uma", reply[0].message_id, ChunkCreate(index=0, content="streamed"))
    repo.update_message(
        sid, "uma", reply[0].message_id, MessageUpdate(status="completed", tokens_used=40, cost_usd=Decimal("0.04"))
    )
    settle(reader, handler)
    assert served(repo, ["uma", "vic"]) == truth(ddb)
    gpt = next(r for r in repo.get_usage("uma").by_model if r.model == "gpt-4o")
    assert (gpt.messages, gpt.tokens, gpt.cost) == (
        3,
        150 + 50 + 40,
        Decimal("0.01") + Decimal("0.4") + Decimal("0.04"),
    )
    assert not any(r.model == CLAUDE["model"] for r in repo.get_usage("uma").by_model)  # its messages moved or went

    # When the messages after the first are truncated, the tail's rows go with it
    first = repo.list_messages(sid, "uma").messages[0]
    repo.truncate_after(sid, "uma", first.message_id)
    settle(reader, handler)
    assert served(repo, ["uma", "vic"]) == truth(ddb)
    uma = repo.get_usage("uma")
    assert uma.messages == 1 and [(r.provider, r.model, r.messages) for r in uma.by_model] == [("openai", "gpt-4o", 1)]
    stats_sum_matches(repo, ["uma", "vic"])
    # The hot item holds the per-model attributes of its rows only: a row emptied to zeros adds nothing
    hot = deserialize(ddb.get_item(TableName=TABLE, Key=keys.session_key(sid))["Item"])
    assert {stats.parse_usage_attribute(name)[:2] for name, value in stats.usage_of(hot).items() if value} == {
        ("openai", "gpt-4o")
    }


def test_usage_leaves_with_a_session_removed_by_ttl_or_deleted_for_good(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    old_repo = SessionRepository(
        ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("x" * 32), clock=lambda: past
    )
    expiring, _ = old_repo.create_session("walt", SessionCreate(user_id="walt"))
    old_repo.append_messages(expiring.session_id, "walt", [message("old", 5, "0.5", **CLAUDE)])
    doomed, _ = repo.create_session("walt", SessionCreate(user_id="walt"))
    repo.append_messages(doomed.session_id, "walt", [message("gone", 6, "0.6", **GPT), message("x", 1, "0.01")])
    kept, _ = repo.create_session("walt", SessionCreate(user_id="walt"))
    repo.append_messages(kept.session_id, "walt", [message("kept", 7, "0.7", **GPT)])
    repo.update_session(kept.session_id, "walt", SessionUpdate(status="ended"))
    settle(reader, handler)
    walt = repo.get_usage("walt")
    assert (walt.sessions, walt.active_sessions, walt.messages, walt.tokens) == (3, 2, 4, 19)
    assert served(repo, ["walt"]) == truth(ddb)

    # When TTL removes the expired session and another is deleted for good
    ddb.delete_item(TableName=TABLE, Key=keys.session_key(expiring.session_id))
    batch = reader.drain()
    for record in batch:
        if record["eventName"] == "REMOVE":
            record["userIdentity"] = TTL_IDENTITY
    assert handler(batch) == {"batchItemFailures": []}
    repo.delete_session(doomed.session_id, "walt")
    settle(reader, handler)
    # Then the usage holds the session that is left, and nothing of the others
    walt = repo.get_usage("walt")
    assert (walt.sessions, walt.active_sessions, walt.messages, walt.tokens, walt.cost) == (1, 0, 1, 7, Decimal("0.7"))
    assert [(r.provider, r.model, r.messages, r.tokens) for r in walt.by_model] == [("openai", "gpt-4o", 1, 7)]
    assert served(repo, ["walt"]) == truth(ddb)
    stats_sum_matches(repo, ["walt"])
    item = deserialize(ddb.get_item(TableName=TABLE, Key=keys.user_usage_key("walt"))["Item"])
    assert item["PK"] == keys.user_pk("walt")  # in the user's partition: an erasure of it takes the usage


def test_a_replayed_batch_moves_usage_once(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("xena", SessionCreate(user_id="xena"))
    repo.append_messages(session.session_id, "xena", [message("a", 3, "0.3", **CLAUDE), message("b", 1, "0.1")])
    batch = reader.drain()
    handler(batch)
    first = repo.get_usage("xena")
    assert first.messages == 2 and first.by_model[0].model == CLAUDE["model"]
    listed = repo.list_messages(session.session_id, "xena").messages
    repo.update_message(session.session_id, "xena", listed[0].message_id, MessageUpdate(**GPT))
    later = reader.drain()
    handler(later)
    moved = repo.get_usage("xena")
    for replay in (batch, later, batch[-2:] + later, batch + later):
        assert handler(replay) == {"batchItemFailures": []}
        assert repo.get_usage("xena") == moved
    assert served(repo, ["xena"]) == truth(ddb)
    assert [(r.provider, r.model) for r in moved.by_model] == [("openai", "gpt-4o"), (None, None)]


def test_an_expired_id_taken_over_by_another_user_moves_usage_between_them(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    old_repo = SessionRepository(
        ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("x" * 32), clock=lambda: past
    )
    sid = "5c1e9a7b-2d3f-4a6b-8c9d-0e1f2a3b4c5d"
    old_repo.create_session("yuri", SessionCreate(user_id="yuri", session_id=sid))
    old_repo.append_messages(sid, "yuri", [message("old", 4, "0.4", **CLAUDE)])
    settle(reader, handler)
    repo.create_session("zoe", SessionCreate(user_id="zoe", session_id=sid))  # the id expired: taken over
    repo.append_messages(sid, "zoe", [message("new", 2, "0.2", **GPT)])
    settle(StreamReader(ddb, boto3.client("dynamodbstreams"), TABLE), handler)  # moto restored the table: replay
    assert repo.get_usage("yuri") == Usage(user_id="yuri")
    zoe = repo.get_usage("zoe")
    assert (zoe.sessions, zoe.messages, zoe.tokens) == (1, 1, 2)
    assert served(repo, ["yuri", "zoe"]) == truth(ddb)
    stats_sum_matches(repo, ["yuri", "zoe"])
