"""The session lifecycle and the listings on the real DynamoDB implementation (DynamoDB Local).

What moto may get wrong and DynamoDB Local does not: GSIs (sparse GSI2), condition expressions,
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
    ended = local_repo.end_session(second.session_id, user)
    assert ended.status is SessionStatus.ENDED
    assert local_repo.end_session(second.session_id, user).status is SessionStatus.ENDED  # idempotent
    with pytest.raises(SessionNotActive):
        local_repo.add_memory(second.session_id, user, MemoryCreate(memory_type=MemoryType.CUSTOM, content="x"))


def test_user_session_listing_pages_with_next_token(local_repo: Any) -> None:
    user = _user()
    ids = [local_repo.create_session(user, SessionCreate(user_id=user, title=f"s{i}"))[0].session_id for i in range(5)]
    local_repo.end_session(ids[1], user)
    local_repo.append_messages(ids[0], user, [MessageCreate(role=MessageRole.USER, content="bump")])
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

    active = local_repo.list_user_sessions(user, active_only=True, page_size=50)  # sparse GSI2
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
    assert round_trips[0] <= 2 and all(n == 1 for n in round_trips[1:]), round_trips
    with pytest.raises(SessionNotFound):
        local_repo.list_messages(session.session_id, _user())
