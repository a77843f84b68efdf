"""User erasure on DynamoDB Local (SPEC section 9): the request answers at once, every reader finds the
user's data gone from that moment, nothing new is stored meanwhile, and once the stream function has applied the
table's records, a scan finds nothing of the user but the erasure's own record; the statistics dropped by exactly
what was erased and the other user's data is untouched. Delivered again, the stream changes nothing.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service.data import dynamo
from session_service.data.guard import WriteGuard
from session_service.errors import SessionIdTaken, SessionNotFound, UserErasing
from session_service.models import ChunkCreate, MemoryCreate, MessageCreate, MessageRole, MessageStatus, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor, erasure
from session_service.summarizer import ExtractiveSummarizer
from tests.support import handle_with, mentioning, scan, settle, stats_item

pytestmark = pytest.mark.dynamodb_local


def _fill(repo: SessionRepository, user: str, sessions: int) -> list[str]:
    """``sessions`` sessions of ``user`` with messages (exact costs), a streamed reply, memory; returns the ids."""
    ids = []
    for number in range(sessions):
        sid = repo.create_session(user, SessionCreate(user_id=user, title=f"s{number}"))[0].session_id
        repo.append_messages(
            sid,
            user,
            [
                MessageCreate(role=MessageRole.USER, content=f"m{i}", tokens_used=i, cost_usd=Decimal(i) / 1000)
                for i in range(1, 6)
            ],
        )
        reply = repo.append_messages(
            sid, user, [MessageCreate(role=MessageRole.ASSISTANT, content="", status=MessageStatus.IN_PROGRESS)]
        )[0]
        repo.add_chunk(sid, user, reply.message_id, ChunkCreate(index=0, content="so far"))
        repo.add_memory(sid, user, MemoryCreate(memory_type="entity", content=f"a secret of {user}"))
        ids.append(sid)
    return ids


def test_an_erasure_is_gone_at_once_and_leaves_nothing_of_the_user_with_the_stream(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(erasure, "SESSIONS_PER_PASS", 3)  # several passes
    repo, client, table = own_table
    user, other = f"gone_{uuid.uuid4().hex[:8]}", f"kept_{uuid.uuid4().hex[:8]}"
    ids = _fill(repo, user, 7)
    repo.create_session(user, SessionCreate(user_id=user), WriteGuard(user, "token", "{}"))  # an idempotency record
    kept = _fill(repo, other, 2)
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    settle(reader, handle_with(processor), batch_size=100)
    before = stats_item(client, table)
    users = [dynamo.deserialize(i) for i in scan(client, table) if i.get("entity", {}).get("S") == "session"]
    erased = [s for s in users if s["user_id"] == user]
    other_items = mentioning(client, table, other, *kept)

    repo.erase_user(user)

    # Gone for every reader at once, before the stream runs; nothing new is stored; asking again is the same.
    for sid in ids:
        for read in (repo.get_session, repo.list_messages, repo.session_exists, repo.list_memories):
            with pytest.raises(SessionNotFound):
                read(sid, user)
    assert repo.list_user_sessions(user).sessions == [] and repo.list_user_sessions(user).total == 0
    with pytest.raises(UserErasing):
        repo.create_session(user, SessionCreate(user_id=user))
    repo.erase_user(user)
    assert repo.erasure(user).status == "erasing"

    batches = settle(reader, handle_with(processor), batch_size=100)

    assert repo.erasure(user).status == "erased" and repo.erasure(user).items_deleted >= 8 * 3 + 7 * 8
    assert mentioning(client, table, user, *ids) == [(f"ERASURE#{user}", "PROGRESS")]
    after = stats_item(client, table)
    assert after["total_sessions"] == before["total_sessions"] - 8
    assert after["active_sessions"] == before["active_sessions"] - 8
    assert after["total_messages"] == before["total_messages"] - sum(s["message_count"] for s in erased)
    assert after["total_tokens"] == before["total_tokens"] - sum(s["total_tokens"] for s in erased)
    assert after["total_cost"] == before["total_cost"] - sum(s["total_cost"] for s in erased)
    assert mentioning(client, table, other, *kept) == other_items
    assert repo.list_user_sessions(other).total == 2

    # Delivered again, batch by batch: nothing changes, nothing comes back.
    for batch in batches:
        assert processor.handle({"Records": batch}) == {"batchItemFailures": []}
    settle(reader, handle_with(processor), batch_size=100)
    assert stats_item(client, table) == after
    assert mentioning(client, table, user, *ids) == [(f"ERASURE#{user}", "PROGRESS")]
    # The user may start again.
    assert repo.create_session(user, SessionCreate(user_id=user))[1]


def test_an_erasure_tombstone_is_not_taken_over_before_it_left(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    """Found by review: another user's create over an erasure's tombstone, before the stream cleaned it up, left the
    erasure at ``erasing`` for good (its tombstone never left the table). Such a create is refused until then."""
    repo, client, table = own_table
    user, other = f"ada_{uuid.uuid4().hex[:8]}", f"bob_{uuid.uuid4().hex[:8]}"
    sid = str(uuid.uuid4())
    repo.create_session(user, SessionCreate(user_id=user, session_id=sid))
    repo.append_messages(sid, user, [MessageCreate(role=MessageRole.USER, content="secret")])
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    settle(reader, handle_with(processor), batch_size=100)
    repo.erase_user(user)
    # The erasure's pass runs; the session's own records wait (their shard lags).
    records = reader.drain()
    own = [r for r in records if r["dynamodb"]["Keys"]["PK"]["S"] == f"SESSION#{sid}"]
    assert processor.handle({"Records": [r for r in records if r not in own]}) == {"batchItemFailures": []}
    held = [r for r in reader.drain() if r["dynamodb"]["Keys"]["PK"]["S"] == f"SESSION#{sid}"]
    assert held and repo.erasure(user).status == "erasing"
    with pytest.raises(SessionIdTaken):
        repo.create_session(other, SessionCreate(user_id=other, session_id=sid))
    assert processor.handle({"Records": own + held}) == {"batchItemFailures": []}
    settle(reader, handle_with(processor), batch_size=100)
    assert repo.erasure(user).status == "erased"
    assert mentioning(client, table, user, "secret") == [(f"ERASURE#{user}", "PROGRESS")]
    assert repo.create_session(other, SessionCreate(user_id=other, session_id=sid))[1]
