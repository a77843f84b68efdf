"""The session lifecycle and the listings on the real DynamoDB implementation (DynamoDB Local).

What moto may get wrong and DynamoDB Local does not: GSIs (keys only), condition expressions,
``ReturnValuesOnConditionCheckFailure``, transactions, paging with ``LastEvaluatedKey``.
"""

from __future__ import annotations

import uuid
from decimal import Decimal
from typing import Any

import pytest

from session_service import wiring
from session_service.errors import (
    InvalidCursor,
    InvalidStatusTransition,
    SessionIdTaken,
    SessionNotActive,
    SessionNotFound,
)
from session_service.models import (
    MemoryCreate,
    MemoryType,
    MessageCreate,
    MessageOrder,
    MessageRole,
    SessionCreate,
    SessionStatus,
    SessionUpdate,
)

pytestmark = pytest.mark.dynamodb_local


def _user() -> str:
    return f"it_user_{uuid.uuid4().hex[:8]}"


def test_session_lifecycle(local_repo: Any) -> None:
    user, other = _user(), _user()
    session_id = f"chat_{uuid.uuid4()}"
    session, created = local_repo.create_session(user, SessionCreate(user_id=user, session_id=session_id, title="t"))
    assert created and session.status is SessionStatus.ACTIVE and session.is_active

    # Ensure-exists (seed 004): the owner gets the stored session back, told apart by ALL_OLD on failure.
    again, created = local_repo.create_session(user, SessionCreate(user_id=user, session_id=session_id, title="x"))
    assert not created and again.title == "t" and again.created_at == session.created_at
    with pytest.raises(SessionIdTaken):
        local_repo.create_session(other, SessionCreate(user_id=other, session_id=session_id))
    with pytest.raises(SessionNotFound):
        local_repo.get_session(session_id, other)

    updated = local_repo.update_session(session_id, user, SessionUpdate(title="renamed", metadata={"k": [1, "v"]}))
    assert (updated.title, updated.metadata, updated.version) == ("renamed", {"k": [1, "v"]}, 2)
    with pytest.raises(SessionNotFound):
        local_repo.update_session(session_id, other, SessionUpdate(title="stolen"))

    local_repo.append_messages(
        session_id, user, [MessageCreate(role=MessageRole.USER, content="hi", tokens_used=3, cost_usd=Decimal("0.1"))]
    )
    local_repo.append_messages(
        session_id,
        user,
        [MessageCreate(role=MessageRole.ASSISTANT, content="hello", tokens_used=5, cost_usd=Decimal("0.2"))],
    )
    memory = local_repo.add_memory(session_id, user, MemoryCreate(memory_type=MemoryType.PREFERENCE, content="tea"))
    local_repo.add_memory(session_id, user, MemoryCreate(memory_type=MemoryType.ENTITY, content="Alice"))
    current = local_repo.get_session(session_id, user)
    assert (current.message_count, current.total_tokens, current.total_cost) == (2, 8, Decimal("0.3"))
    preferences = local_repo.list_memories(session_id, user, memory_type=MemoryType.PREFERENCE)
    assert [m.memory_id for m in preferences.memories] == [memory.memory_id]
    assert local_repo.list_memories(session_id, user).total == 2

    completed = local_repo.update_session(session_id, user, SessionUpdate(status=SessionStatus.COMPLETED))
    assert completed.status is SessionStatus.COMPLETED and not completed.is_active
    with pytest.raises(InvalidStatusTransition):
        local_repo.update_session(session_id, user, SessionUpdate(status=SessionStatus.ACTIVE))
    with pytest.raises(SessionNotActive):
        local_repo.append_messages(session_id, user, [MessageCreate(role=MessageRole.USER, content="late")])
    with pytest.raises(InvalidStatusTransition):
        local_repo.end_session(session_id, user)  # only an active session can be ended
    assert local_repo.get_session(session_id, user).message_count == 2  # the refused append wrote nothing

    second, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    local_repo.end_session(second.session_id, user)
    assert local_repo.get_session(second.session_id, user).status is SessionStatus.ENDED
    local_repo.end_session(second.session_id, user)  # idempotent
    assert local_repo.get_session(second.session_id, user).status is SessionStatus.ENDED
    with pytest.raises(SessionNotActive):
        local_repo.add_memory(second.session_id, user, MemoryCreate(memory_type=MemoryType.CUSTOM, content="x"))


def test_user_session_listing_pages_with_next_token(
    local_repo: Any, local_ddb: Any, local_table: str, move_index_keys: Any
) -> None:
    user = _user()
    ids = [local_repo.create_session(user, SessionCreate(user_id=user, title=f"s{i}"))[0].session_id for i in range(5)]
    local_repo.end_session(ids[1], user)
    # Exact at once (the requests' transactions move the owner's counts), before any stream delivery.
    assert local_repo.list_user_sessions(user).total == 5
    assert local_repo.list_user_sessions(user, status=SessionStatus.ACTIVE).total == 4
    assert local_repo.list_user_sessions(user, status=SessionStatus.ENDED).total == 1
    local_repo.append_messages(ids[0], user, [MessageCreate(role=MessageRole.USER, content="bump")])
    assert move_index_keys(local_ddb, local_table, ids) == 5  # what the stream function does once per batch
    expected = [ids[0], ids[4], ids[3], ids[2], ids[1]]  # most recent activity first

    seen, token, pages = [], None, 0
    while True:
        page = local_repo.list_user_sessions(user, page_size=2, next_token=token)
        pages += 1
        assert page.page == pages
        seen += [s.session_id for s in page.sessions]
        token = page.next_token
        if token is None:
            break
    assert seen == expected and pages == 3

    active = local_repo.list_user_sessions(user, status=SessionStatus.ACTIVE, page_size=50)  # GSI2
    assert [s.session_id for s in active.sessions] == [i for i in expected if i != ids[1]]
    assert all(s.is_active for s in active.sessions)
    second_page = local_repo.list_user_sessions(user, page=2, page_size=2)  # seed 002's page parameter
    assert [s.session_id for s in second_page.sessions] == expected[2:4]

    first = local_repo.list_user_sessions(user, page_size=2)
    with pytest.raises(InvalidCursor):
        local_repo.list_user_sessions(_user(), page_size=2, next_token=first.next_token)  # foreign cursor
    with pytest.raises(InvalidCursor):
        local_repo.list_user_sessions(user, page_size=2, next_token=first.next_token[:-2] + "xx")


def test_message_listing_pages_oldest_first(local_repo: Any) -> None:
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    batch = [MessageCreate(role=MessageRole.USER, content=f"m{i}", tokens_used=1) for i in range(25)]
    local_repo.append_messages(session.session_id, user, batch)  # one transaction, in the order given

    calls: list[str] = []
    client = wiring.dynamodb_client()  # the repository's client: count the round trips per page
    client.meta.events.register("before-call.dynamodb", lambda model, **_: calls.append(model.name))
    contents, token, round_trips = [], None, []
    while True:
        calls.clear()
        page = local_repo.list_messages(session.session_id, user, page_size=10, next_token=token)
        round_trips.append(len(calls))
        assert page.total == 25
        contents += [m.content for m in page.messages]
        token = page.next_token
        if token is None:
            break
    assert contents == [f"m{i}" for i in range(25)]
    assert round_trips == [2, 2, 2]  # each page: the session (owner, expiry, cuts) and one Query
    with pytest.raises(SessionNotFound):
        local_repo.list_messages(session.session_id, _user())


def test_newest_messages_and_context_read_only_what_they_return(local_repo: Any) -> None:
    user = _user()
    session, _ = local_repo.create_session(user, SessionCreate(user_id=user))
    for start in range(0, 150, 50):
        batch = [
            MessageCreate(role=MessageRole.USER, content=f"m{i}", tokens_used=10) for i in range(start, start + 50)
        ]
        local_repo.append_messages(session.session_id, user, batch)
    newest = local_repo.list_messages(session.session_id, user, order=MessageOrder.DESC, page_size=20)
    assert [m.content for m in newest.messages] == [f"m{i}" for i in range(149, 129, -1)]
    following = local_repo.list_messages(
        session.session_id, user, order=MessageOrder.DESC, page_size=20, next_token=newest.next_token
    )
    assert [m.content for m in following.messages] == [f"m{i}" for i in range(129, 109, -1)]
    context = local_repo.get_context(session.session_id, user, max_tokens=95, max_messages=50)
    assert [m.content for m in context.messages] == [f"m{i}" for i in range(141, 150)]
    assert (context.tokens, context.truncated) == (90, True)
    everything = local_repo.get_context(session.session_id, user, max_tokens=10**6, max_messages=1000)
    assert len(everything.messages) == 150 and everything.truncated is False and everything.tokens == 1500


def test_an_expired_id_is_taken_over_atomically(local_repo: Any, local_ddb: Any, local_table: str) -> None:
    old_user, new_user = _user(), _user()
    session_id = str(uuid.uuid4())
    local_repo.create_session(old_user, SessionCreate(user_id=old_user, session_id=session_id, ttl_seconds=60))
    local_repo.append_messages(session_id, old_user, [MessageCreate(role=MessageRole.USER, content="old")])
    # Expire it (TTL has not run: DynamoDB Local never deletes expired items).
    local_ddb.update_item(
        TableName=local_table,
        Key={"PK": {"S": f"SESSION#{session_id}"}, "SK": {"S": "SESSION"}},
        UpdateExpression="SET expires_at = :past",
        ExpressionAttributeValues={":past": {"N": "1"}},
    )
    session, created = local_repo.create_session(new_user, SessionCreate(user_id=new_user, session_id=session_id))
    assert created and session.user_id == new_user and session.message_count == 0
    assert local_repo.list_messages(session_id, new_user).messages == []
    assert local_repo.list_user_sessions(old_user).total == 0 and local_repo.list_user_sessions(new_user).total == 1
    with pytest.raises(SessionIdTaken):
        local_repo.create_session(old_user, SessionCreate(user_id=old_user, session_id=session_id))
