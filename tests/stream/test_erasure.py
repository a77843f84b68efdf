"""The erasure (SPEC section 9) on moto under every reachable order of stream delivery and fault: it finishes,
and leaves no item of the erased user in the table.

Each test drives the real stream handler with records read from the moto table's stream, holding some records
back to model what Lambda allows: records of different items live on different shards, processed
independently (no order between them), and a failed batch is delivered again whole.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service.data import dynamo
from session_service.errors import ServiceUnavailable
from session_service.models import MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from tests.support import Handle, mentioning, settle

pytestmark = pytest.mark.fresh_table

TABLE = os.environ["TABLE_NAME"]


def _pk(record: dict[str, Any]) -> str:
    return str(record["dynamodb"]["Keys"]["PK"]["S"])


class _Lagging:
    """``reader`` with the records ``hold`` selects held back, in order, in ``held``: their shard lags behind."""

    def __init__(self, reader: StreamReader, hold: Callable[[dict[str, Any]], bool]) -> None:
        self.reader, self.hold = reader, hold
        self.held: list[dict[str, Any]] = []

    def drain(self) -> list[dict[str, Any]]:
        batch = self.reader.drain()
        self.held += [r for r in batch if self.hold(r)]
        return [r for r in batch if not self.hold(r)]


def _settle(
    reader: StreamReader, handler: Handle, *, hold: Callable[[dict[str, Any]], bool] = lambda _: False
) -> list[dict[str, Any]]:
    """Apply the stream until quiet, holding back (and returning, in order) the records ``hold`` selects: their
    shard lags behind the others."""
    lagging = _Lagging(reader, hold)
    settle(lagging, handler)
    return lagging.held


def _msg(text: str, model: str | None = None) -> MessageCreate:
    return MessageCreate(role="user", content=text, tokens_used=3, cost_usd=Decimal("0.01"), model=model)


def test_an_erasure_finishes_when_a_fresh_sessions_batch_fails_after_its_contents_were_deleted(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Handle, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a session of cleo's created just before her erasure (its INSERT not applied yet)
    _settle(reader, handler)
    session, _ = repo.create_session("user-cleo", SessionCreate(user_id="user-cleo"))
    sid = session.session_id
    repo.append_messages(sid, "user-cleo", [_msg("secret")])
    repo.erase_user("user-cleo")
    # When the erasure's shard runs first (its pass tombstones the session), and the session's shard then brings
    # its INSERT, MODIFYs and the tombstone's MODIFY in one batch, whose commit fails once after the clean-up
    # deleted the partition (throttling, a timeout)
    held = _settle(reader, handler, hold=lambda r: _pk(r) == f"SESSION#{sid}")
    held += [r for r in reader.drain() if _pk(r) == f"SESSION#{sid}"]
    assert any(
        r["dynamodb"]["NewImage"].get("status", {}).get("S") == "deleted" for r in held if "NewImage" in r["dynamodb"]
    )
    real = dynamo.transact_write
    calls = {"n": 0}

    def once(client: Any, actions: list[dict[str, Any]], **kwargs: Any) -> Any:
        if calls["n"] == 0 and any("STREAM#SESSION#" in json.dumps(a) for a in actions):
            calls["n"] += 1
            raise ServiceUnavailable()
        return real(client, actions, **kwargs)

    monkeypatch.setattr(dynamo, "transact_write", once)
    with pytest.raises(ServiceUnavailable):
        handler(held)
    assert calls["n"] == 1
    # And Lambda delivers the batch again, then the rest
    assert handler(held) == {"batchItemFailures": []}
    _settle(reader, handler)
    # Then the erasure finishes, and nothing of cleo is left
    assert repo.erasure("user-cleo").status == "erased"
    assert mentioning(ddb, TABLE, "user-cleo", sid) == [("ERASURE#user-cleo", "PROGRESS")]


def test_an_erasure_leaves_no_usage_when_a_delete_before_it_is_applied_after_it_finished(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Handle
) -> None:
    # Given a session of dora's with usage, applied
    session, _ = repo.create_session("user-dora", SessionCreate(user_id="user-dora"))
    sid = session.session_id
    repo.append_messages(sid, "user-dora", [_msg("hello", model="m1")])
    _settle(reader, handler)
    assert repo.get_usage("user-dora").messages == 1
    # When dora deletes the session for good and then asks for her erasure, and the session's shard lags behind
    # the erasure's (Lambda orders records of one item only)
    repo.delete_session(sid, "user-dora")
    repo.erase_user("user-dora")
    held = _settle(reader, handler, hold=lambda r: _pk(r) == f"SESSION#{sid}")
    assert repo.erasure("user-dora").status == "erased"
    assert handler(held) == {"batchItemFailures": []}
    _settle(reader, handler)
    # Then nothing of dora is left but the erasure's record (no usage item brought back by the late delete)
    assert mentioning(ddb, TABLE, "user-dora", sid) == [("ERASURE#user-dora", "PROGRESS")]


def test_an_erasure_leaves_no_mark_of_a_session_ttl_removed_before_it(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Handle
) -> None:
    from session_service.data.keys import session_key

    # Given a session of edna's that TTL removed (expired; its removal applied)
    session, _ = repo.create_session("user-edna", SessionCreate(user_id="user-edna"))
    sid = session.session_id
    repo.append_messages(sid, "user-edna", [_msg("hello")])
    _settle(reader, handler)
    ddb.delete_item(TableName=TABLE, Key=session_key(sid))
    batch = reader.drain()
    for record in batch:
        if record["eventName"] == "REMOVE":
            record["userIdentity"] = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}
    assert handler(batch) == {"batchItemFailures": []}
    # When edna is erased and the stream settles
    repo.erase_user("user-edna")
    _settle(reader, handler)
    assert repo.erasure("user-edna").status == "erased"
    # Then no item names her session any more (SPEC section 9: every stream applied mark of the user)
    assert mentioning(ddb, TABLE, "user-edna", sid) == [("ERASURE#user-edna", "PROGRESS")]


def test_a_create_over_the_users_own_expired_session_is_refused_while_the_user_is_being_erased(
    ddb: Any, table: str
) -> None:
    from datetime import UTC, datetime, timedelta

    from session_service.cursor import CursorCodec
    from session_service.errors import UserErasing

    now = [datetime(2030, 1, 1, tzinfo=UTC)]
    repo = SessionRepository(ddb, TABLE, ttl_seconds=3600, cursors=CursorCodec("k" * 32), clock=lambda: now[0])
    sid = "5b0c1c3e-1111-4c1a-9d2e-000000000002"
    repo.create_session("user-fern", SessionCreate(user_id="user-fern", session_id=sid))
    now[0] += timedelta(hours=2)  # expired; TTL has not removed it yet
    repo.erase_user("user-fern")
    with pytest.raises(UserErasing):
        repo.create_session("user-fern", SessionCreate(user_id="user-fern", session_id=sid))


def test_an_append_accepted_after_the_202_is_erased_with_the_rest(
    repo: SessionRepository, ddb: Any, reader: StreamReader, handler: Handle
) -> None:
    """Appends write without reading (a check of the owner's counts in every append's transaction would cost every
    append a transaction item): one that reaches a session before the erasure's pass does is accepted, never
    readable, and erased with the rest (README, Erasure)."""
    from session_service.errors import SessionNotFound

    session, _ = repo.create_session("user-gwen", SessionCreate(user_id="user-gwen"))
    repo.erase_user("user-gwen")
    with pytest.raises(SessionNotFound):
        repo.get_session(session.session_id, "user-gwen")
    repo.append_messages(session.session_id, "user-gwen", [_msg("after the 202")])
    with pytest.raises(SessionNotFound):
        repo.list_messages(session.session_id, "user-gwen")
    _settle(reader, handler)
    assert repo.erasure("user-gwen").status == "erased"
    assert mentioning(ddb, TABLE, "user-gwen", "after the 202", session.session_id) == [
        ("ERASURE#user-gwen", "PROGRESS")
    ]
