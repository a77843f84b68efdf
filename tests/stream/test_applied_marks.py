"""A session's applied mark and the stream's forgetting (moto): the mark must outlive every record the
session can still produce, now that a record of a session without a mark and without its hot item is skipped
(``_still_there``). A write that slides a session's ``expires_at`` without moving a count (a memory record, a
chunk) does not move the mark, so the mark's ``expires_at`` (the TTL attribute) stays where the last counted
record left it: TTL may delete the mark while the session lives, and the session's TTL removal is then skipped.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from devserver.streams import StreamReader
from session_service.cursor import CursorCodec
from session_service.data import keys
from session_service.data.dynamo import deserialize
from session_service.models import MemoryCreate, MessageCreate, SessionCreate
from session_service.repository import SessionRepository
from tests.support import Handle, mentioning, settle, stats_item

pytestmark = pytest.mark.fresh_table

TABLE = os.environ["TABLE_NAME"]
TTL_IDENTITY = {"type": "Service", "principalId": "dynamodb.amazonaws.com"}


def _item(ddb: Any, key: dict[str, Any]) -> dict[str, Any]:
    found = ddb.get_item(TableName=TABLE, Key=key, ConsistentRead=True).get("Item")
    return deserialize(found) if found else {}


def test_a_session_removed_by_ttl_after_its_mark_expired_leaves_the_statistics_and_the_table(
    ddb: Any,
    reader: StreamReader,
    handler: Handle,
) -> None:
    now = [datetime.now(UTC)]
    repo = SessionRepository(
        ddb, TABLE, ttl_seconds=30 * 24 * 3600, cursors=CursorCodec("k" * 32), clock=lambda: now[0]
    )
    # Given a session of hana's with a message, applied
    session, _ = repo.create_session("user-hana", SessionCreate(user_id="user-hana"))
    sid = session.session_id
    repo.append_messages(
        sid, "user-hana", [MessageCreate(role="user", content="hi", tokens_used=3, cost_usd=Decimal("0.01"))]
    )
    settle(reader, handler)
    assert int(stats_item(ddb, TABLE)["total_sessions"]) == 1
    # When 20 days later she adds a memory record: the session's expiry slides 20 days, its mark's does not
    now[0] += timedelta(days=20)
    repo.add_memory(sid, "user-hana", MemoryCreate(memory_type="preference", content="likes tea"))
    settle(reader, handler)
    # A mark has no expiry of its own (it was two days past the last counted record's: before the session's), so
    # TTL never deletes it while its session lives; the session's removal deletes it.
    assert "expires_at" not in _item(ddb, keys.mark_key(sid))
    # And TTL deletes the session once its expiry passed
    ddb.delete_item(TableName=TABLE, Key=keys.session_key(sid))
    batch = reader.drain()
    for record in batch:
        if record["eventName"] == "REMOVE" and record["dynamodb"]["Keys"]["SK"]["S"] == keys.SESSION_SK:
            record["userIdentity"] = TTL_IDENTITY
    assert handler(batch) == {"batchItemFailures": []}
    settle(reader, handler)
    # Then the session leaves the statistics, hana's counts and usage, and its items leave the table (SPEC section 6)
    stats = stats_item(ddb, TABLE)
    assert int(stats["total_sessions"]) == 0 and int(stats["total_messages"]) == 0
    assert repo.get_usage("user-hana").sessions == 0
    assert [key for key in mentioning(ddb, TABLE, sid) if key[0] == f"SESSION#{sid}"] == []
    assert mentioning(ddb, TABLE, sid) == []  # its mark too
