"""A user's usage broken down by namespace, kept by the statistics function from the session records it already reads
(the hot item's images carry ``namespace`` and the counters): exact, exactly once under replays, moved when an
expired id is created again elsewhere, and erased with the user's partition.

The truth is recomputed from a Scan: each user's live sessions grouped by their hot item's ``namespace``.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.streams import StreamReader
from session_service.cursor import CursorCodec
from session_service.data import items
from session_service.data.dynamo import deserialize
from session_service.models import MessageCreate, SessionCreate, SessionStatus, SessionUpdate
from session_service.repository import SessionRepository
from tests.support import mentioning, settle

pytestmark = pytest.mark.fresh_table  # STATS, the usage items and the stream are table-wide

TABLE = os.environ["TABLE_NAME"]
Row = tuple[str | None, int, int, int, int, Decimal]


def scan(ddb: Any) -> list[dict[str, Any]]:
    return [deserialize(i) for page in ddb.get_paginator("scan").paginate(TableName=TABLE) for i in page["Items"]]


def truth(ddb: Any, user: str) -> set[Row]:
    """``user``'s rows by namespace from the live hot items: (namespace, sessions, active, messages, tokens, cost)."""
    rows: dict[str | None, list[Any]] = {}
    for hot in scan(ddb):
        if hot.get("entity") != "session" or items.is_tombstone(hot) or hot["user_id"] != user:
            continue
        row = rows.setdefault(hot.get("namespace"), [0, 0, 0, 0, Decimal(0)])
        row[0] += 1
        row[1] += hot["status"] == "active"
        row[2] += int(hot["message_count"])
        row[3] += int(hot["total_tokens"])
        row[4] += Decimal(hot["total_cost"])
    return {(ns, *values) for ns, values in rows.items() if any(values)}  # type: ignore[misc]


def served(repo: SessionRepository, user: str) -> set[Row]:
    usage = repo.get_usage(user)
    rows = {(r.namespace, r.sessions, r.active_sessions, r.messages, r.tokens, r.cost) for r in usage.by_namespace}
    # The rows add up to the totals
    assert sum(r.sessions for r in usage.by_namespace) == usage.sessions
    assert sum(r.active_sessions for r in usage.by_namespace) == usage.active_sessions
    assert sum(r.messages for r in usage.by_namespace) == usage.messages
    assert sum(r.tokens for r in usage.by_namespace) == usage.tokens
    assert sum((r.cost for r in usage.by_namespace), Decimal(0)) == usage.cost
    return rows


def message(content: str, tokens: int, cost: str) -> MessageCreate:
    return MessageCreate(role="assistant", content=content, tokens_used=tokens, cost_usd=Decimal(cost))


def test_usage_by_namespace_is_exact_through_appends_status_changes_and_deletions(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    # Given ana's sessions in two namespaces and one in none, and bo's in one of them
    a1, _ = repo.create_session("ana", SessionCreate(user_id="ana", namespace="app-a"))
    a2, _ = repo.create_session("ana", SessionCreate(user_id="ana", namespace="app-a"))
    b1, _ = repo.create_session("ana", SessionCreate(user_id="ana", namespace="app-b"))
    plain, _ = repo.create_session("ana", SessionCreate(user_id="ana"))
    bo, _ = repo.create_session("bo", SessionCreate(user_id="bo", namespace="app-a"))
    repo.append_messages(a1.session_id, "ana", [message("x", 10, "0.1"), message("y", 5, "0.05")])
    repo.append_messages(a2.session_id, "ana", [message("z", 1, "0.000000000001")])
    repo.append_messages(b1.session_id, "ana", [message("w", 100, "2")])
    repo.append_messages(plain.session_id, "ana", [message("v", 7, "0.7")])
    repo.append_messages(bo.session_id, "bo", [message("u", 3, "0.3")])
    settle(reader, handler)
    expected = {
        ("app-a", 2, 2, 3, 16, Decimal("0.150000000001")),
        ("app-b", 1, 1, 1, 100, Decimal(2)),
        (None, 1, 1, 1, 7, Decimal("0.7")),
    }
    assert served(repo, "ana") == truth(ddb, "ana") == expected
    ana = repo.get_usage("ana")
    assert [r.namespace for r in ana.by_namespace] == ["app-b", None, "app-a"]  # by cost, highest first
    assert served(repo, "bo") == {("app-a", 1, 1, 1, 3, Decimal("0.3"))}
    # And a trusted caller reads app-a's usage by user: the same numbers as each user's own row
    page = repo.get_namespace_usage("app-a")
    assert [(r.user_id, r.sessions, r.messages, r.cost) for r in page.users] == [
        ("ana", 2, 3, Decimal("0.150000000001")),
        ("bo", 1, 1, Decimal("0.3")),
    ]

    # When a session is closed, a message deleted and a session deleted for good
    repo.update_session(a2.session_id, "ana", SessionUpdate(status=SessionStatus.COMPLETED))
    first = repo.list_messages(a1.session_id, "ana").messages[0]
    repo.delete_message(a1.session_id, "ana", first.message_id)
    repo.delete_session(b1.session_id, "ana")
    settle(reader, handler)
    # Then the rows follow, and a namespace left with nothing has no row, nor a user in it
    assert repo.get_namespace_usage("app-b").users == []
    expected = {("app-a", 2, 1, 2, 6, Decimal("0.050000000001")), (None, 1, 1, 1, 7, Decimal("0.7"))}
    assert served(repo, "ana") == truth(ddb, "ana") == expected


def test_a_message_item_names_no_namespace(repo: SessionRepository, ddb: Any, reader: StreamReader) -> None:
    """The namespace lives on the session's hot item only: an append writes nothing more for the breakdown."""
    session, _ = repo.create_session("cy", SessionCreate(user_id="cy", namespace="app-c"))
    repo.append_messages(session.session_id, "cy", [message("hi", 1, "0.01")])
    stored = [i for i in scan(ddb) if i.get("entity") == "message"]
    assert stored and all("namespace" not in i for i in stored)


def test_a_replayed_batch_moves_namespace_usage_once(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("dee", SessionCreate(user_id="dee", namespace="app-d"))
    repo.append_messages(session.session_id, "dee", [message("a", 3, "0.3")])
    batch = reader.drain()
    handler(batch)
    repo.append_messages(session.session_id, "dee", [message("b", 1, "0.1")])
    later = reader.drain()
    handler(later)
    moved = repo.get_usage("dee")
    for replay in (batch, later, batch[-1:] + later, batch + later):
        assert handler(replay) == {"batchItemFailures": []}
        assert repo.get_usage("dee") == moved
    assert served(repo, "dee") == truth(ddb, "dee") == {("app-d", 1, 1, 2, 4, Decimal("0.4"))}


def test_an_expired_id_created_again_in_another_namespace_moves_its_usage(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    old_repo = SessionRepository(
        ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("x" * 32), clock=lambda: past
    )
    sid = "6d2f0b8c-3e4a-4b7c-9d0e-1f2a3b4c5d6e"
    old_repo.create_session("eve", SessionCreate(user_id="eve", session_id=sid, namespace="old-app"))
    old_repo.append_messages(sid, "eve", [message("old", 4, "0.4")])
    settle(reader, handler)
    assert served(repo, "eve") == {("old-app", 1, 1, 1, 4, Decimal("0.4"))}
    # When the expired id is created again by eve in another namespace, then by nobody else
    repo.create_session("eve", SessionCreate(user_id="eve", session_id=sid, namespace="new-app"))
    repo.append_messages(sid, "eve", [message("new", 2, "0.2")])
    settle(StreamReader(ddb, boto3.client("dynamodbstreams"), TABLE), handler)  # moto restored the table: replay
    assert served(repo, "eve") == truth(ddb, "eve") == {("new-app", 1, 1, 1, 2, Decimal("0.2"))}
    assert repo.get_namespace_usage("old-app").users == []
    assert [r.user_id for r in repo.get_namespace_usage("new-app").users] == ["eve"]


def test_an_expired_id_taken_over_by_another_user_moves_namespace_usage_between_them(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    past = datetime.now(UTC) - timedelta(days=40)
    old_repo = SessionRepository(
        ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("x" * 32), clock=lambda: past
    )
    sid = "7e3a1c9d-4f5b-4c8d-8e1f-2a3b4c5d6e7f"
    old_repo.create_session("fay", SessionCreate(user_id="fay", session_id=sid, namespace="app-f"))
    old_repo.append_messages(sid, "fay", [message("old", 4, "0.4")])
    settle(reader, handler)
    repo.create_session("gus", SessionCreate(user_id="gus", session_id=sid))
    repo.append_messages(sid, "gus", [message("new", 2, "0.2")])
    settle(reader, handler)
    assert served(repo, "fay") == set()
    # A user of no namespace has no breakdown: the totals say it all
    gus = repo.get_usage("gus")
    assert (gus.sessions, gus.messages, gus.tokens, gus.by_namespace) == (1, 1, 2, [])


def test_an_erasure_takes_the_users_namespace_usage(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    session, _ = repo.create_session("user-hal", SessionCreate(user_id="user-hal", namespace="app-h"))
    repo.append_messages(session.session_id, "user-hal", [message("a", 3, "0.3")])
    settle(reader, handler)
    assert served(repo, "user-hal") == {("app-h", 1, 1, 1, 3, Decimal("0.3"))}
    repo.erase_user("user-hal")
    settle(reader, handler)
    assert repo.erasure("user-hal").status == "erased"
    assert mentioning(ddb, TABLE, "user-hal", session.session_id) == [("ERASURE#user-hal", "PROGRESS")]
    assert repo.get_usage("user-hal").by_namespace == []
    assert repo.get_namespace_usage("app-h").users == []


class _Lagging:
    """``reader`` with the records of one partition held back, in order, in ``held``: their shard lags behind."""

    def __init__(self, reader: StreamReader, partition: str) -> None:
        self.reader, self.partition = reader, partition
        self.held: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        batch = self.reader.drain()
        self.held += [r for r in batch if r["dynamodb"]["Keys"]["PK"]["S"] == self.partition]
        return [r for r in batch if r["dynamodb"]["Keys"]["PK"]["S"] != self.partition]


def test_a_late_record_of_an_erased_users_session_brings_no_namespace_usage_back(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Any
) -> None:
    # Given ivy's session of a namespace with usage, applied
    session, _ = repo.create_session("user-ivy", SessionCreate(user_id="user-ivy", namespace="app-i"))
    sid = session.session_id
    repo.append_messages(sid, "user-ivy", [message("a", 3, "0.3")])
    settle(reader, handler)
    # When ivy deletes the session for good and is erased, and the session's shard lags behind the erasure's
    repo.delete_session(sid, "user-ivy")
    repo.erase_user("user-ivy")
    lagging = _Lagging(reader, f"SESSION#{sid}")
    settle(lagging, handler)
    assert repo.erasure("user-ivy").status == "erased"
    assert handler(lagging.held) == {"batchItemFailures": []}
    settle(reader, handler)
    # Then nothing of ivy is left but the erasure's record: no usage of the namespace brought back
    assert mentioning(ddb, TABLE, "user-ivy", sid) == [("ERASURE#user-ivy", "PROGRESS")]
    assert repo.get_namespace_usage("app-i").users == []
