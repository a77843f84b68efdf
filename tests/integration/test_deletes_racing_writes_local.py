"""Deletes and erasures racing a write, on DynamoDB Local (defect 1): a permanent delete, a batch delete
or an erasure's pass whose transaction commits after an append or a memory record was written (their time drawn
before it) leaves nothing behind once the stream is quiet: a scan finds nothing of the session or the user.

The gate is a botocore hook on the deleting client: when its tombstones' TransactWriteItems is about to be sent
(the delete's read done and its time drawn), the hook writes through another client and only then lets the
transaction go. Deterministic: the write always commits between the delete's read and its transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import boto3
import pytest

from devserver.dynamodb_local import DynamoDBLocal
from devserver.streams import StreamReader
from session_service.cursor import CursorCodec
from session_service.models import MemoryCreate, MessageCreate, MessageRole, SessionCreate
from session_service.repository import SessionRepository
from session_service.stream import StreamProcessor
from session_service.summarizer import ExtractiveSummarizer
from tests.support import handle_with, mentioning, settle

pytestmark = pytest.mark.dynamodb_local

Write = Callable[[SessionRepository, str, str], object]

WRITES: dict[str, Write] = {
    "append": lambda repo, sid, user: repo.append_messages(
        sid, user, [MessageCreate(role=MessageRole.USER, content=f"late secret of {user}")]
    ),
    "memory": lambda repo, sid, user: repo.add_memory(
        sid, user, MemoryCreate(memory_type="entity", content=f"late secret of {user}")
    ),
}


def _gate(client: Any, then: Callable[[], None]) -> list[bool]:
    """Hold ``client``'s first TransactWriteItems that writes a tombstone until ``then()`` returned; returns a list
    that holds ``True`` once the gate was passed."""
    passed: list[bool] = []

    def hold(params: dict[str, Any], **_: Any) -> None:
        tombstone = any(
            ":deleted" in item.get("Update", {}).get("ExpressionAttributeValues", {})
            for item in params.get("TransactItems", [])
        )
        if tombstone and not passed:
            passed.append(True)
            then()

    client.meta.events.register("before-parameter-build.dynamodb.TransactWriteItems", hold)
    return passed


def _filled(repo: SessionRepository, user: str, sessions: int) -> list[str]:
    ids = []
    for _ in range(sessions):
        sid = repo.create_session(user, SessionCreate(user_id=user))[0].session_id
        repo.append_messages(sid, user, [MessageCreate(role=MessageRole.USER, content=f"a secret of {user}")])
        repo.add_memory(sid, user, MemoryCreate(memory_type="preference", content=f"a secret of {user}"))
        ids.append(sid)
    return ids


@pytest.mark.parametrize("path", ["delete", "batch delete", "erasure"])
@pytest.mark.parametrize("write", sorted(WRITES))
def test_a_write_committed_between_the_read_and_the_tombstone_leaves_nothing_behind(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str], path: str, write: str
) -> None:
    repo, client, table = own_table
    user = f"racer_{uuid.uuid4().hex[:8]}"
    ids = _filled(repo, user, 2)
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    settle(reader, handle_with(processor), batch_size=100)
    writer = SessionRepository(
        boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint),
        table,
        ttl_seconds=3600,
        cursors=CursorCodec("k" * 32),
    )
    deleter_client = boto3.client("dynamodb", endpoint_url=dynamodb_local.endpoint)
    deleter = SessionRepository(deleter_client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32))

    if path == "erasure":  # the pass runs in the stream function: its client is gated
        passed = _gate(client, lambda: WRITES[write](writer, ids[-1], user))
        repo.erase_user(user)
        settle(reader, handle_with(processor), batch_size=100)
        assert repo.erasure(user).status == "erased"
    else:
        passed = _gate(deleter_client, lambda: WRITES[write](writer, ids[-1], user))
        if path == "delete":
            deleter.delete_session(ids[-1], user)
        else:
            assert deleter.delete_sessions(user, ids) == 2
        settle(reader, handle_with(processor), batch_size=100)

    assert passed == [True]
    if path == "erasure":  # nothing of the user but the erasure's own record
        assert mentioning(client, table, user, *ids) == [(f"ERASURE#{user}", "PROGRESS")]
    else:  # nothing of the deleted sessions (a single delete keeps the other one)
        deleted = ids if path == "batch delete" else ids[-1:]
        assert mentioning(client, table, *deleted, "late secret") == []
        if path == "delete":
            assert repo.get_session(ids[0], user).message_count == 1
            assert len(repo.list_memories(ids[0], user).memories) == 1


def test_a_take_over_after_the_tombstone_keeps_its_items_and_the_late_write_goes(
    dynamodb_local: DynamoDBLocal, own_table: tuple[SessionRepository, Any, str]
) -> None:
    """The deleted incarnation's clean-up runs once a new session took the id over: it deletes the write that raced
    the delete, never the new session's items (created after the new hot item)."""
    repo, client, table = own_table
    user, other = f"racer_{uuid.uuid4().hex[:8]}", f"taker_{uuid.uuid4().hex[:8]}"
    sid = _filled(repo, user, 1)[0]
    processor = StreamProcessor(client, table, ExtractiveSummarizer())
    reader = StreamReader(client, boto3.client("dynamodbstreams", endpoint_url=dynamodb_local.endpoint), table)
    settle(reader, handle_with(processor), batch_size=100)
    endpoint = dynamodb_local.endpoint
    writer = SessionRepository(
        boto3.client("dynamodb", endpoint_url=endpoint), table, ttl_seconds=3600, cursors=CursorCodec("k" * 32)
    )
    deleter_client = boto3.client("dynamodb", endpoint_url=endpoint)
    deleter = SessionRepository(deleter_client, table, ttl_seconds=3600, cursors=CursorCodec("k" * 32))
    passed = _gate(deleter_client, lambda: WRITES["append"](writer, sid, user))
    deleter.delete_session(sid, user)
    assert passed == [True]

    assert repo.create_session(other, SessionCreate(user_id=other, session_id=sid))[1]
    repo.append_messages(sid, other, [MessageCreate(role=MessageRole.USER, content="the new owner's")])
    repo.add_memory(sid, other, MemoryCreate(memory_type="entity", content="the new owner's"))
    settle(reader, handle_with(processor), batch_size=100)

    assert mentioning(client, table, "secret of") == []
    assert repo.get_session(sid, other).message_count == 1
    assert [m.content for m in repo.list_messages(sid, other).messages] == ["the new owner's"]
    assert [m.content for m in repo.list_memories(sid, other).memories] == ["the new owner's"]
