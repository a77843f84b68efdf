"""Concurrent state changes and agent appends against DynamoDB Local, which really conflicts transactions: ten
writers of different keys without If-Match all land; ten writers on the same version with If-Match: one wins, the
others get 412 and nothing of theirs is stored; ten racing appends of one agent take positions 0 to 9."""

from __future__ import annotations

import threading
import uuid
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from session_service.errors import PreconditionFailed
from session_service.models import MessageCreate, MessageRole, SessionCreate, SessionTag
from session_service.models.state import AgentCreate, StateChange

pytestmark = pytest.mark.dynamodb_local

WRITERS = 10


def _session(repo: Any) -> tuple[str, str]:
    user = f"it_state_{uuid.uuid4().hex[:8]}"
    session, _ = repo.create_session(user, SessionCreate(user_id=user))
    return session.session_id, user


def _race(work: Any) -> list[Any]:
    start = threading.Barrier(WRITERS)

    def run(number: int) -> Any:
        start.wait()  # every writer hits the same document at once
        try:
            return work(number)
        except PreconditionFailed as failed:
            return failed

    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(run, range(WRITERS)))


def test_writers_of_different_keys_all_land(local_repo: Any) -> None:
    sid, user = _session(local_repo)
    results = _race(lambda n: local_repo.change_state(sid, user, StateChange(set={f"key{n}": n})))
    assert not any(isinstance(result, Exception) for result in results)
    document = local_repo.get_state(sid, user)
    assert document.state == {f"key{n}": n for n in range(WRITERS)} and document.version == WRITERS


def test_with_if_match_one_wins_and_the_others_get_412(local_repo: Any) -> None:
    sid, user = _session(local_repo)
    local_repo.create_agent(sid, user, "planner", AgentCreate(state={"plan": "start"}))
    read = SessionTag(1, local_repo.get_session(sid, user).created_at)

    def change(n: int) -> Any:
        return local_repo.change_state(
            sid, user, StateChange(set={"plan": n, f"mine{n}": True}), agent_id="planner", if_match=read
        )

    results = _race(change)
    winners = [r for r in results if not isinstance(r, Exception)]
    assert len(winners) == 1 and sum(isinstance(r, PreconditionFailed) for r in results) == WRITERS - 1
    document = local_repo.get_state(sid, user, "planner")
    won = winners[0].state["plan"]
    assert document.state == {"plan": won, f"mine{won}": True} and document.version == 2


def test_racing_appends_of_one_agent_take_distinct_positions(local_repo: Any) -> None:
    sid, user = _session(local_repo)

    def append(n: int) -> Any:
        request = MessageCreate(role=MessageRole.USER, content=f"m{n}", agent_id="writer")
        (message,) = local_repo.append_messages(sid, user, [request])
        return message

    messages = _race(append)
    assert sorted(m.position for m in messages) == list(range(WRITERS))
    page = local_repo.list_agent_messages(sid, user, "writer")
    assert [m.position for m in page.messages] == list(range(WRITERS))
    assert {m.content for m in page.messages} == {f"m{n}" for n in range(WRITERS)}
    assert local_repo.get_state(sid, user, "writer").message_count == WRITERS
    assert local_repo.get_session(sid, user).message_count == WRITERS
